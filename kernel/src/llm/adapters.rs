//! LoRA adapters on the data disk, as Hugging Face PEFT directories:
//! `/models/adapters/<name>/adapter_config.json` + `adapter_model.safetensors`, and the
//! pointer file `/models/adapters/ACTIVE` naming the adapter in use (empty: none), which the
//! boot reloads.
//!
//! Crash safety: a new adapter is written into a directory of its own that nothing points to
//! yet — weights first, config last, each file replaced atomically by the file service — and
//! only then does `ACTIVE` change (again an atomic replacement). A power cut at any moment
//! leaves `ACTIVE` naming either the old adapter, whose files were never touched, or the new
//! one, complete. A directory without `adapter_config.json` (a save cut short) is not an
//! adapter: `list` skips it and `load` refuses it.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use llm::LoraAdapters;
use llmtask::finetune::{ADAPTER_CONFIG, ADAPTER_WEIGHTS, valid_adapter_name};

use super::model;
use crate::files;

/// Where adapters live.
pub const DIR: &str = "/models/adapters";
/// The pointer file naming the active adapter.
pub const ACTIVE: &str = "/models/adapters/ACTIVE";
/// Largest adapter weight file read back (the default adapter is ~70 KB).
pub const MAX_WEIGHTS: usize = 4 * 1024 * 1024;
const MAX_CONFIG: usize = 64 * 1024;

/// A complete adapter directory.
pub struct AdapterInfo {
    pub name: String,
    pub weight_bytes: u64,
}

/// The complete adapters on the disk, by name (none when the directory does not exist).
pub fn list() -> Result<Vec<AdapterInfo>, String> {
    let entries = match files::list(DIR) {
        Ok(entries) => entries,
        Err(e) if e.contains("no such") => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for e in entries
        .into_iter()
        .filter(|e| e.is_dir && valid_adapter_name(&e.name))
    {
        let Ok(files) = files::list(&format!("{DIR}/{}", e.name)) else {
            continue;
        };
        let size = |n: &str| {
            files
                .iter()
                .find(|f| f.name == n && !f.is_dir)
                .map(|f| f.size)
        };
        if let (Some(_), Some(weights)) = (size(ADAPTER_CONFIG), size(ADAPTER_WEIGHTS)) {
            out.push(AdapterInfo {
                name: e.name,
                weight_bytes: weights,
            });
        }
    }
    Ok(out)
}

/// The name `ACTIVE` holds, if any.
pub fn active_name() -> Result<Option<String>, String> {
    match files::read(ACTIVE, 64) {
        Ok(bytes) => {
            let name = String::from_utf8_lossy(&bytes).trim().into();
            Ok((!String::is_empty(&name)).then_some(name))
        }
        Err(e) if e.contains("no such") => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads and checks adapter `name` against the loaded model.
pub fn read(name: &str) -> Result<LoraAdapters, String> {
    if !valid_adapter_name(name) {
        return Err(format!(
            "'{name}' is not an adapter name (1-32 of a-z, 0-9, -)"
        ));
    }
    let m = model::get().ok_or_else(|| String::from("no model loaded"))?;
    let config = files::read(&format!("{DIR}/{name}/{ADAPTER_CONFIG}"), MAX_CONFIG)?;
    let weights = files::read(&format!("{DIR}/{name}/{ADAPTER_WEIGHTS}"), MAX_WEIGHTS)?;
    LoraAdapters::from_peft(m.model.config(), &config, &weights)
        .map_err(|e| format!("adapter {name}: {e}"))
}

fn set_active(name: Option<&str>) -> Result<(), String> {
    files::create_dir_all(DIR)?;
    files::replace(ACTIVE, name.unwrap_or("").as_bytes())
}

/// Loads adapter `name` into the model and makes it the one the boot reloads.
pub fn load(name: &str) -> Result<(), String> {
    let adapters = read(name)?;
    model::install_adapter(Some((String::from(name), &adapters)))?;
    set_active(Some(name))
}

/// Back to the base model, at once and after the next boot.
pub fn unload() -> Result<(), String> {
    model::install_adapter(None)?;
    set_active(None)
}

/// At boot: loads the adapter `ACTIVE` names, if any.
pub fn reload_active() -> Result<Option<String>, String> {
    let Some(name) = active_name()? else {
        return Ok(None);
    };
    let adapters = read(&name)?;
    model::install_adapter(Some((name.clone(), &adapters)))?;
    Ok(Some(name))
}

/// A name no adapter on the disk has yet: `ft-<n>`, one above the highest in use.
pub fn next_name() -> Result<String, String> {
    let highest = match files::list(DIR) {
        Ok(entries) => entries
            .iter()
            .filter_map(|e| e.name.strip_prefix("ft-")?.parse::<u32>().ok())
            .max()
            .unwrap_or(0),
        Err(e) if e.contains("no such") => 0,
        Err(e) => return Err(e),
    };
    Ok(format!("ft-{}", highest + 1))
}

/// Writes `adapters` as a new adapter directory `name` (crash-safe, see the module doc) and
/// makes it active on the disk; returns the weight file's size. `between` runs after each
/// file is durable (the e2e kill test widens the window with it).
pub fn save(name: &str, adapters: &LoraAdapters, between: &dyn Fn(&str)) -> Result<usize, String> {
    let peft = adapters
        .to_peft()
        .map_err(|e| format!("adapter {name}: {e}"))?;
    let dir = format!("{DIR}/{name}");
    files::create_dir_all(&dir)?;
    files::replace(
        &format!("{dir}/{ADAPTER_WEIGHTS}"),
        &peft.adapter_model_safetensors,
    )?;
    between(ADAPTER_WEIGHTS);
    files::replace(
        &format!("{dir}/{ADAPTER_CONFIG}"),
        peft.adapter_config_json.as_bytes(),
    )?;
    between(ADAPTER_CONFIG);
    set_active(Some(name))?;
    Ok(peft.adapter_model_safetensors.len())
}
