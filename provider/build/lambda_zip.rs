//! A deterministic zip of one executable: the same input gives the same bytes on any machine, at any time, so
//! that two clean builds give the same `CodeSha256` and Terraform sees no change. Fixed: the 1980-01-01 00:00
//! timestamp (zip's epoch), Unix mode 0755 regular file, raw deflate at one level, no extra fields or comments.
//! Shared, through `#[path]`, by the provider's build script and the tests that check it.

const DOS_DATE_1980_01_01: u16 = (1 << 5) | 1;
const DOS_TIME_MIDNIGHT: u16 = 0;
const VERSION_2_0: u16 = 20;
/// "Made by" Unix (3 in the high byte), so that unzip and Lambda read the external attributes as a Unix mode.
const MADE_BY_UNIX: u16 = (3 << 8) | VERSION_2_0;
const REGULAR_FILE_0755: u32 = 0o100_755;
const DEFLATE: u16 = 8;
const LEVEL: u8 = 6;

pub fn single_executable(name: &str, contents: &[u8]) -> Vec<u8> {
    let compressed = miniz_oxide::deflate::compress_to_vec(contents, LEVEL);
    let crc = crc32(contents);
    let name_len = u16::try_from(name.len()).expect("a short name");
    let (size, compressed_size) = (u32_size(contents.len()), u32_size(compressed.len()));

    let mut zip = Vec::with_capacity(compressed.len() + 128);
    // Local file header.
    put32(&mut zip, 0x0403_4b50);
    for field in [VERSION_2_0, 0, DEFLATE, DOS_TIME_MIDNIGHT, DOS_DATE_1980_01_01] {
        put16(&mut zip, field);
    }
    for field in [crc, compressed_size, size] {
        put32(&mut zip, field);
    }
    put16(&mut zip, name_len);
    put16(&mut zip, 0);
    zip.extend_from_slice(name.as_bytes());
    zip.extend_from_slice(&compressed);

    // Central directory, with the one entry.
    let central_directory = u32_size(zip.len());
    put32(&mut zip, 0x0201_4b50);
    for field in [
        MADE_BY_UNIX,
        VERSION_2_0,
        0,
        DEFLATE,
        DOS_TIME_MIDNIGHT,
        DOS_DATE_1980_01_01,
    ] {
        put16(&mut zip, field);
    }
    for field in [crc, compressed_size, size] {
        put32(&mut zip, field);
    }
    // Name length, extra and comment lengths, disk number, internal attributes.
    for field in [name_len, 0, 0, 0, 0] {
        put16(&mut zip, field);
    }
    put32(&mut zip, REGULAR_FILE_0755 << 16);
    put32(&mut zip, 0);
    zip.extend_from_slice(name.as_bytes());
    let central_directory_size = u32_size(zip.len()) - central_directory;

    // End of central directory.
    put32(&mut zip, 0x0605_4b50);
    for field in [0, 0, 1, 1] {
        put16(&mut zip, field);
    }
    put32(&mut zip, central_directory_size);
    put32(&mut zip, central_directory);
    put16(&mut zip, 0);
    zip
}

fn u32_size(len: usize) -> u32 {
    u32::try_from(len).expect("Lambda zips stay far below the 4 GiB that would need zip64")
}

fn put16(zip: &mut Vec<u8>, value: u16) {
    zip.extend_from_slice(&value.to_le_bytes());
}

fn put32(zip: &mut Vec<u8>, value: u32) {
    zip.extend_from_slice(&value.to_le_bytes());
}

/// CRC-32 (IEEE), as zip requires; a table-driven loop is fast enough even in an unoptimized build script.
fn crc32(data: &[u8]) -> u32 {
    let mut table = [0u32; 256];
    for (n, entry) in (0u32..).zip(table.iter_mut()) {
        *entry = (0..8).fold(n, |c, _| if c & 1 == 1 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 });
    }
    !data.iter().fold(!0u32, |crc, &byte| {
        table[((crc ^ u32::from(byte)) & 0xFF) as usize] ^ (crc >> 8)
    })
}
