//! Safetensors I/O with Hugging Face Llama tensor names, from and to byte buffers.
//!
//! Parsing uses the `safetensors` crate (built `no_std + alloc`): it validates the header length
//! against the buffer, that offsets are contiguous and cover the data, and shape × dtype size
//! against each tensor's byte range *before* we allocate anything — so a lying header cannot
//! trigger a huge allocation; we only allocate `Vec<f32>`s whose byte length is already known
//! to be present in the input. On top of that we check every name and shape against the
//! config. F32, F16 and BF16 tensors load (converted to f32); we always save F32.
//! Neighbours: [`crate::model`] (the tensors), [`crate::lora`] (PEFT files reuse the helpers).

use alloc::borrow::Cow;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use safetensors::tensor::{Dtype, SafeTensors, View};

use crate::config::LlamaConfig;
use crate::error::Error;
use crate::model::{LlamaModel, Params};

/// Parse the container (header + offsets), mapping errors to [`Error::SafeTensors`].
pub(crate) fn parse(bytes: &[u8]) -> Result<SafeTensors<'_>, Error> {
    SafeTensors::deserialize(bytes).map_err(|e| Error::SafeTensors(e.to_string()))
}

/// Fetch tensor `name`, check its shape, convert it to f32.
pub(crate) fn read_tensor(
    st: &SafeTensors<'_>,
    name: &str,
    shape: &[usize],
) -> Result<Vec<f32>, Error> {
    let view = st
        .tensor(name)
        .map_err(|_| Error::MissingTensor(name.to_string()))?;
    if view.shape() != shape {
        return Err(Error::WrongShape {
            name: name.to_string(),
            expected: shape.to_vec(),
            found: view.shape().to_vec(),
        });
    }
    let data = view.data();
    let out: Vec<f32> = match view.dtype() {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|b| f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16))
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
            .collect(),
        other => {
            return Err(Error::WrongDtype {
                name: name.to_string(),
                dtype: format!("{other:?}"),
            });
        }
    };
    // The crate checked bytes == elements × size; this guards the conversion above.
    if out.len() != shape.iter().product::<usize>() {
        return Err(Error::SafeTensors(format!(
            "tensor {name}: byte length mismatch"
        )));
    }
    Ok(out)
}

/// IEEE binary16 → f32, exact (subnormals, infinities and NaN included).
fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let man = (h & 0x3ff) as u32;
    let bits = match (exp, man) {
        (0, 0) => sign,
        (0, m) => {
            // Subnormal: value = m × 2⁻²⁴.
            let v = m as f32 * (1.0 / 16_777_216.0);
            return if sign != 0 { -v } else { v };
        }
        (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 112) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

/// An f32 tensor to be written.
pub(crate) struct F32Tensor {
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl F32Tensor {
    pub(crate) fn new(shape: Vec<usize>, data: &[f32]) -> F32Tensor {
        F32Tensor {
            shape,
            bytes: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }
}

impl View for &F32Tensor {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// Serialise named f32 tensors (with optional `__metadata__`) to safetensors bytes.
pub(crate) fn serialize(
    tensors: &BTreeMap<String, F32Tensor>,
    metadata: Option<BTreeMap<String, String>>,
) -> Result<Vec<u8>, Error> {
    let meta = metadata.map(|m| m.into_iter().collect());
    safetensors::tensor::serialize(tensors.iter().map(|(k, v)| (k.as_str(), v)), meta)
        .map_err(|e| Error::SafeTensors(e.to_string()))
}

impl LlamaModel {
    /// Load the weights of a model with config `cfg` from safetensors bytes (HF names).
    /// When embeddings are tied, a `lm_head.weight` in the file is ignored (HF writes it
    /// sometimes); every other tensor the config implies must be present with its shape.
    pub fn from_safetensors(cfg: LlamaConfig, bytes: &[u8]) -> Result<LlamaModel, Error> {
        cfg.validate()?;
        let st = parse(bytes)?;
        let mut params = Params::zeros(&cfg);
        for ((name, shape), dst) in cfg.tensor_shapes().iter().zip(params.tensors_mut()) {
            let t = read_tensor(&st, name, shape)?;
            dst.copy_from_slice(&t);
        }
        LlamaModel::from_params(cfg, params)
    }

    /// Load `config.json` bytes and `model.safetensors` bytes.
    pub fn load(config_json: &[u8], safetensors: &[u8]) -> Result<LlamaModel, Error> {
        let cfg = LlamaConfig::from_json(config_json)?;
        LlamaModel::from_safetensors(cfg, safetensors)
    }

    /// Serialise the weights as f32 safetensors with HF names (`lm_head.weight` omitted when
    /// tied, as HF does). Metadata `format = pt` lets `transformers` load it directly.
    pub fn to_safetensors(&self) -> Result<Vec<u8>, Error> {
        let map: BTreeMap<String, F32Tensor> = self
            .named_tensors()
            .into_iter()
            .map(|(n, s, d)| (n, F32Tensor::new(s, d)))
            .collect();
        let mut meta = BTreeMap::new();
        meta.insert("format".to_string(), "pt".to_string());
        serialize(&map, Some(meta))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_conversion_is_exact_on_known_values() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 5.960_464_5e-8);
        assert!(f16_to_f32(0x7c00).is_infinite());
        assert!(f16_to_f32(0x7e00).is_nan());
    }
}
