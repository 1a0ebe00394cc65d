//! Streaming SHA-256 while reading or writing key files, so a key of hundreds of MB is hashed in
//! the same pass that reads or writes it.

use std::io::{self, Read, Write};

use sha2::{Digest, Sha256};

/// Read buffer size: large enough that hashing and syscalls work on big blocks.
const BUFFER_BYTES: usize = 1 << 20;

/// A buffered reader that hashes every byte it pulls from `inner`, in big blocks.
pub(crate) struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    buf: Vec<u8>,
    pos: usize,
    filled: usize,
    bytes: u64,
}

impl<R: Read> HashingReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            buf: vec![0; BUFFER_BYTES],
            pos: 0,
            filled: 0,
            bytes: 0,
        }
    }

    fn refill(&mut self) -> io::Result<()> {
        let n = loop {
            match self.inner.read(&mut self.buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        self.hasher.update(&self.buf[..n]);
        self.bytes += n as u64;
        self.pos = 0;
        self.filled = n;
        Ok(())
    }

    /// Reads (and hashes) everything left; returns how many bytes were left unconsumed.
    pub(crate) fn drain(&mut self) -> io::Result<u64> {
        let mut left = (self.filled - self.pos) as u64;
        self.pos = self.filled;
        loop {
            self.refill()?;
            if self.filled == 0 {
                return Ok(left);
            }
            left += self.filled as u64;
            self.pos = self.filled;
        }
    }

    /// The SHA-256 (lower-case hex) of every byte read so far and the byte count.
    pub(crate) fn finish(self) -> (String, u64) {
        (hex::encode(self.hasher.finalize()), self.bytes)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.filled {
            self.refill()?;
            if self.filled == 0 {
                return Ok(0);
            }
        }
        let n = out.len().min(self.filled - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// A writer that hashes everything written through it; wrap it in a `BufWriter`.
pub(crate) struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// The writer and the SHA-256 (lower-case hex) and byte count of what was written.
    pub(crate) fn finish(self) -> (W, String, u64) {
        (self.inner, hex::encode(self.hasher.finalize()), self.bytes)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(data)?;
        self.hasher.update(&data[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// SHA-256 (lower-case hex) of a byte string.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_hashes_all_bytes_in_any_read_pattern() {
        let data: Vec<u8> = (0..(3 * BUFFER_BYTES + 17))
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        let mut r = HashingReader::new(&data[..]);
        let mut head = vec![0u8; 1000];
        r.read_exact(&mut head).unwrap();
        assert_eq!(head, data[..1000]);
        assert_eq!(r.drain().unwrap(), (data.len() - 1000) as u64);
        let (hash, n) = r.finish();
        assert_eq!(n, data.len() as u64);
        assert_eq!(hash, sha256_hex(&data));
    }

    #[test]
    fn writer_hashes_what_it_writes() {
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"abc").unwrap();
        let (out, hash, n) = w.finish();
        assert_eq!(out, b"abc");
        assert_eq!(n, 3);
        assert_eq!(
            hash,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
