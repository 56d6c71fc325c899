//! The Lambda artifact as shipped: a static x86_64 binary that runs on `provided.al2023` whatever its glibc,
//! zipped deterministically, and embedded in the provider binary together with its `CodeSha256`.

#[path = "../../provider/build/lambda_zip.rs"]
mod lambda_zip;

use base64::Engine;
use rdsbackup_tests::provider_binary;
use rdsbackup_tests::runtime_api::bootstrap_binary;
use sha2::{Digest, Sha256};

const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const EM_X86_64: u16 = 62;

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(bytes[at..at + 2].try_into().unwrap())
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

/// Read by hand from the ELF headers: no program interpreter (so no dynamic loader, hence no glibc to match),
/// and no shared library needed. A static-pie binary still has a dynamic section, for its own relocations.
#[test]
fn bootstrap_is_a_static_x86_64_executable() {
    let elf = std::fs::read(bootstrap_binary()).unwrap();
    assert_eq!(&elf[..4], b"\x7fELF");
    assert_eq!((elf[4], elf[5]), (2, 1), "64-bit little-endian");
    assert_eq!(u16_at(&elf, 18), EM_X86_64, "Lambda's x86_64 architecture");
    let (phoff, phentsize, phnum) = (u64_at(&elf, 32) as usize, u16_at(&elf, 54) as usize, u16_at(&elf, 56));
    let mut needed = 0;
    for header in (0..phnum as usize).map(|i| phoff + i * phentsize) {
        let kind = u32_at(&elf, header);
        assert_ne!(
            kind, PT_INTERP,
            "a program interpreter means dynamic linking against the system's libc"
        );
        if kind == PT_DYNAMIC {
            let (offset, size) = (u64_at(&elf, header + 8) as usize, u64_at(&elf, header + 32) as usize);
            for entry in elf[offset..offset + size].chunks_exact(16) {
                match u64_at(entry, 0) {
                    DT_NULL => break,
                    DT_NEEDED => needed += 1,
                    _ => {}
                }
            }
        }
    }
    assert_eq!(needed, 0, "shared libraries needed at run time");
}

#[test]
fn the_zip_is_deterministic_and_holds_bootstrap_executable() {
    let binary = std::fs::read(bootstrap_binary()).unwrap();
    let zip = lambda_zip::single_executable("bootstrap", &binary);
    assert_eq!(
        zip,
        lambda_zip::single_executable("bootstrap", &binary),
        "same input, same bytes"
    );

    // One entry, read back through the central directory as unzip and Lambda read it.
    let end = zip.len() - 22;
    assert_eq!(u32_at(&zip, end), 0x0605_4b50);
    assert_eq!(u16_at(&zip, end + 10), 1, "one entry");
    let central = u32_at(&zip, end + 16) as usize;
    assert_eq!(u32_at(&zip, central), 0x0201_4b50);
    assert_eq!(
        u16_at(&zip, central + 4) >> 8,
        3,
        "made on Unix, so the mode below counts"
    );
    assert_eq!(
        (u16_at(&zip, central + 12), u16_at(&zip, central + 14)),
        (0, (1 << 5) | 1),
        "1980-01-01 00:00"
    );
    assert_eq!(u32_at(&zip, central + 38) >> 16, 0o100_755, "a regular file, mode 0755");
    let name_len = u16_at(&zip, central + 28) as usize;
    assert_eq!(&zip[central + 46..central + 46 + name_len], b"bootstrap");

    let local = u32_at(&zip, central + 42) as usize;
    assert_eq!(u32_at(&zip, local), 0x0403_4b50);
    let data = local + 30 + u16_at(&zip, local + 26) as usize + u16_at(&zip, local + 28) as usize;
    let compressed = &zip[data..data + u32_at(&zip, local + 18) as usize];
    let unpacked = miniz_oxide::inflate::decompress_to_vec(compressed).expect("raw deflate");
    assert!(unpacked == binary, "the entry unpacks to the binary");
}

/// The provider carries exactly the zip of this build's `bootstrap`, and the `CodeSha256` it compares with Lambda's.
#[test]
fn the_provider_embeds_the_zip_and_its_code_sha256() {
    let zip = lambda_zip::single_executable("bootstrap", &std::fs::read(bootstrap_binary()).unwrap());
    let provider = std::fs::read(provider_binary()).unwrap();
    let sha256 = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&zip));
    assert!(
        contains(&provider, &zip),
        "the provider binary does not embed the zip of {}",
        bootstrap_binary().display()
    );
    assert!(
        contains(&provider, sha256.as_bytes()),
        "the provider binary does not carry CodeSha256 {sha256}"
    );
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    let head = &needle[..needle.len().min(64)];
    haystack
        .windows(head.len())
        .enumerate()
        .any(|(at, window)| window == head && haystack[at..].starts_with(needle))
}
