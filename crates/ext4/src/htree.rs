//! Hashed (htree) directory lookups: the ext4 directory name hashes (legacy, half-MD4, TEA
//! in their signed and unsigned flavours) and the walk from the index root to the leaf
//! block that must hold a name. Used by `namei` to find a name without scanning the whole
//! directory; any index it cannot interpret makes `namei` fall back to a linear scan, which
//! is always correct because leaf blocks are ordinary directory blocks.

use crate::bytes::{le16, le32};

pub const LEGACY: u8 = 0;
pub const HALF_MD4: u8 = 1;
pub const TEA: u8 = 2;
pub const LEGACY_UNSIGNED: u8 = 3;
pub const HALF_MD4_UNSIGNED: u8 = 4;
pub const TEA_UNSIGNED: u8 = 5;

/// Packs name bytes into 32-bit words the way ext4's `str2hashbuf` does.
fn str2hashbuf(msg: &[u8], unsigned: bool, out: &mut [u32]) {
    let len = msg.len() as u32;
    let mut pad = len | (len << 8);
    pad |= pad << 16;
    let mut val = pad;
    let take = msg.len().min(out.len() * 4);
    let mut w = 0;
    for (i, &c) in msg[..take].iter().enumerate() {
        let ch = if unsigned {
            c as u32
        } else {
            c as i8 as i32 as u32
        };
        val = ch.wrapping_add(val << 8);
        if i % 4 == 3 {
            out[w] = val;
            w += 1;
            val = pad;
        }
    }
    if w < out.len() {
        out[w] = val;
        w += 1;
    }
    for o in out.iter_mut().skip(w) {
        *o = pad;
    }
}

fn half_md4_transform(buf: &mut [u32; 4], inp: &[u32; 8]) {
    const K2: u32 = 0o13240474631;
    const K3: u32 = 0o15666365641;
    let f = |x: u32, y: u32, z: u32| z ^ (x & (y ^ z));
    let g = |x: u32, y: u32, z: u32| (x & y).wrapping_add((x ^ y) & z);
    let h = |x: u32, y: u32, z: u32| x ^ y ^ z;
    let [mut a, mut b, mut c, mut d] = *buf;
    macro_rules! round {
        ($f:expr, $a:ident, $b:ident, $c:ident, $d:ident, $x:expr, $s:expr) => {
            $a = $a.wrapping_add($f($b, $c, $d)).wrapping_add($x);
            $a = $a.rotate_left($s);
        };
    }
    round!(f, a, b, c, d, inp[0], 3);
    round!(f, d, a, b, c, inp[1], 7);
    round!(f, c, d, a, b, inp[2], 11);
    round!(f, b, c, d, a, inp[3], 19);
    round!(f, a, b, c, d, inp[4], 3);
    round!(f, d, a, b, c, inp[5], 7);
    round!(f, c, d, a, b, inp[6], 11);
    round!(f, b, c, d, a, inp[7], 19);
    round!(g, a, b, c, d, inp[1].wrapping_add(K2), 3);
    round!(g, d, a, b, c, inp[3].wrapping_add(K2), 5);
    round!(g, c, d, a, b, inp[5].wrapping_add(K2), 9);
    round!(g, b, c, d, a, inp[7].wrapping_add(K2), 13);
    round!(g, a, b, c, d, inp[0].wrapping_add(K2), 3);
    round!(g, d, a, b, c, inp[2].wrapping_add(K2), 5);
    round!(g, c, d, a, b, inp[4].wrapping_add(K2), 9);
    round!(g, b, c, d, a, inp[6].wrapping_add(K2), 13);
    round!(h, a, b, c, d, inp[3].wrapping_add(K3), 3);
    round!(h, d, a, b, c, inp[7].wrapping_add(K3), 9);
    round!(h, c, d, a, b, inp[2].wrapping_add(K3), 11);
    round!(h, b, c, d, a, inp[6].wrapping_add(K3), 15);
    round!(h, a, b, c, d, inp[1].wrapping_add(K3), 3);
    round!(h, d, a, b, c, inp[5].wrapping_add(K3), 9);
    round!(h, c, d, a, b, inp[0].wrapping_add(K3), 11);
    round!(h, b, c, d, a, inp[4].wrapping_add(K3), 15);
    buf[0] = buf[0].wrapping_add(a);
    buf[1] = buf[1].wrapping_add(b);
    buf[2] = buf[2].wrapping_add(c);
    buf[3] = buf[3].wrapping_add(d);
}

fn tea_transform(buf: &mut [u32; 4], inp: &[u32; 4]) {
    let mut sum = 0u32;
    let (mut b0, mut b1) = (buf[0], buf[1]);
    let [a, b, c, d] = *inp;
    for _ in 0..16 {
        sum = sum.wrapping_add(0x9E37_79B9);
        b0 = b0.wrapping_add(
            (b1 << 4).wrapping_add(a) ^ b1.wrapping_add(sum) ^ (b1 >> 5).wrapping_add(b),
        );
        b1 = b1.wrapping_add(
            (b0 << 4).wrapping_add(c) ^ b0.wrapping_add(sum) ^ (b0 >> 5).wrapping_add(d),
        );
    }
    buf[0] = buf[0].wrapping_add(b0);
    buf[1] = buf[1].wrapping_add(b1);
}

fn legacy(name: &[u8], unsigned: bool) -> u32 {
    let (mut h0, mut h1) = (0x12A3_FE2Du32, 0x37AB_E8F9u32);
    for &c in name {
        let ch = if unsigned {
            c as u32
        } else {
            c as i8 as i32 as u32
        };
        let mut h = h1.wrapping_add(h0 ^ ch.wrapping_mul(7_152_373));
        if h & 0x8000_0000 != 0 {
            h = h.wrapping_sub(0x7FFF_FFFF);
        }
        h1 = h0;
        h0 = h;
    }
    h0 << 1
}

/// The major hash of `name` for hash `version` with the superblock's `seed` (as the
/// `dx_hash` command of debugfs prints it). `None` for versions this crate does not know.
pub fn name_hash(name: &[u8], version: u8, seed: [u32; 4]) -> Option<u32> {
    let mut buf = [0x6745_2301u32, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476];
    if seed.iter().any(|&s| s != 0) {
        buf = seed;
    }
    let hash = match version {
        LEGACY | LEGACY_UNSIGNED => legacy(name, version == LEGACY_UNSIGNED),
        HALF_MD4 | HALF_MD4_UNSIGNED => {
            let mut rest = name;
            loop {
                let mut inp = [0u32; 8];
                str2hashbuf(rest, version == HALF_MD4_UNSIGNED, &mut inp);
                half_md4_transform(&mut buf, &inp);
                if rest.len() <= 32 {
                    break;
                }
                rest = &rest[32..];
            }
            buf[1]
        }
        TEA | TEA_UNSIGNED => {
            let mut rest = name;
            loop {
                let mut inp = [0u32; 4];
                str2hashbuf(rest, version == TEA_UNSIGNED, &mut inp);
                tea_transform(&mut buf, &inp);
                if rest.len() <= 16 {
                    break;
                }
                rest = &rest[16..];
            }
            buf[0]
        }
        _ => return None,
    };
    let hash = hash & !1;
    Some(if hash == 0x7FFF_FFFF << 1 {
        0x7FFF_FFFE << 1
    } else {
        hash
    })
}

/// Index entries of a dx node: (hash, logical block); entry 0's hash counts as 0.
/// `at` is where the count/limit header sits (32 in the root, 8 in interior nodes).
pub(crate) fn entries(block: &[u8], at: usize) -> Option<alloc::vec::Vec<(u32, u32)>> {
    let limit = le16(block, at) as usize;
    let count = le16(block, at + 2) as usize;
    if count == 0 || count > limit || at + limit * 8 > block.len() {
        return None;
    }
    Some(
        (0..count)
            .map(|i| {
                let o = at + i * 8;
                (if i == 0 { 0 } else { le32(block, o) }, le32(block, o + 4))
            })
            .collect(),
    )
}

/// Reads the dx root: (hash version, indirect levels, offset of the entry header).
pub(crate) fn root_info(block: &[u8]) -> Option<(u8, u8, usize)> {
    // "." (12 bytes), ".." header (12 bytes), then dx_root_info.
    if le32(block, 24) != 0 {
        return None;
    }
    let version = *block.get(28)?;
    let info_len = *block.get(29)? as usize;
    let levels = *block.get(30)?;
    if info_len != 8 || levels > 2 {
        return None;
    }
    Some((version, levels, 24 + info_len))
}

/// The position of the entry covering `hash` (last entry whose hash is <= `hash`).
pub(crate) fn pick(entries: &[(u32, u32)], hash: u32) -> usize {
    entries
        .partition_point(|&(h, _)| h <= hash)
        .saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_and_default_seed_are_stable() {
        // Same input, same output; distinct names spread.
        let s = [0u32; 4];
        let a = name_hash(b"hello", HALF_MD4, s).unwrap();
        assert_eq!(a, name_hash(b"hello", HALF_MD4, s).unwrap());
        assert_ne!(a, name_hash(b"hellp", HALF_MD4, s).unwrap());
        assert_eq!(a & 1, 0);
        assert!(name_hash(b"x", 9, s).is_none());
        assert_eq!(pick(&[(0, 1), (100, 2), (200, 3)], 150), 1);
        assert_eq!(pick(&[(0, 1), (100, 2), (200, 3)], 99), 0);
        assert_eq!(pick(&[(0, 1), (100, 2), (200, 3)], 200), 2);
    }
}
