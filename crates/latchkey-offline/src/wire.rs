//! Byte-level reader and writer of the OAD payload: big-endian integers, length-prefixed
//! strings and byte strings. The reader never panics and never reads past the end.

use crate::OadError;

/// Longest string field (logins, serials, host ids, PHC strings).
pub(crate) const MAX_STR: usize = 1024;

#[derive(Default)]
pub(crate) struct Writer {
    pub(crate) buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub(crate) fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn raw(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }
    /// A string of at most [`MAX_STR`] bytes (callers validate the length first).
    pub(crate) fn str(&mut self, s: &str) {
        let len = u16::try_from(s.len()).unwrap_or(u16::MAX);
        self.u16(len);
        self.raw(s.as_bytes().get(..usize::from(len)).unwrap_or_default());
    }
}

pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

fn short() -> OadError {
    OadError::Malformed("truncated")
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], OadError> {
        if self.rest.len() < n {
            return Err(short());
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], OadError> {
        <[u8; N]>::try_from(self.take(N)?).map_err(|_| short())
    }
    pub(crate) fn u8(&mut self) -> Result<u8, OadError> {
        Ok(u8::from_be_bytes(self.array()?))
    }
    pub(crate) fn u16(&mut self) -> Result<u16, OadError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    pub(crate) fn u32(&mut self) -> Result<u32, OadError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    pub(crate) fn i64(&mut self) -> Result<i64, OadError> {
        Ok(i64::from_be_bytes(self.array()?))
    }
    pub(crate) fn bool(&mut self) -> Result<bool, OadError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(OadError::Malformed("bad flag")),
        }
    }
    pub(crate) fn str(&mut self) -> Result<String, OadError> {
        let len = usize::from(self.u16()?);
        if len > MAX_STR {
            return Err(OadError::Malformed("string too long"));
        }
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| OadError::Malformed("string not UTF-8"))
    }
    pub(crate) fn finish(&self) -> Result<(), OadError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(OadError::Malformed("trailing bytes"))
        }
    }
}
