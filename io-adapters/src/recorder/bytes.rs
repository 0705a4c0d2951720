//! Varint writer and checked reader for the recording format. The reader never panics:
//! every short or malformed field is a [`Malformed`] naming what was being read.

/// A field that does not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Malformed(pub(crate) &'static str);

/// Appends fields to a byte vector.
#[derive(Default)]
pub(crate) struct Out(pub(crate) Vec<u8>);

impl Out {
    pub(crate) fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    /// LEB128: 7 bits per byte, low first.
    pub(crate) fn var(&mut self, v: u64) {
        let (bytes, n) = var_bytes(v);
        self.0.extend_from_slice(&bytes[..n]);
    }
    pub(crate) fn fixed(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    /// A length-prefixed byte string.
    pub(crate) fn blob(&mut self, b: &[u8]) {
        self.var(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    pub(crate) fn opt(&mut self, v: Option<u64>) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                self.var(v);
            }
        }
    }
}

/// `v` as LEB128 (7 bits per byte, low first): the bytes and how many are used.
pub(crate) fn var_bytes(mut v: u64) -> ([u8; 10], usize) {
    let mut b = [0u8; 10];
    let mut n = 0;
    while v >= 0x80 {
        b[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    b[n] = v as u8;
    (b, n + 1)
}

/// Reads fields from a byte slice.
pub(crate) struct In<'a> {
    pub(crate) buf: &'a [u8],
}

impl<'a> In<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        In { buf }
    }
    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, Malformed> {
        let (&b, rest) = self.buf.split_first().ok_or(Malformed(what))?;
        self.buf = rest;
        Ok(b)
    }
    pub(crate) fn var(&mut self, what: &'static str) -> Result<u64, Malformed> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8(what)?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(Malformed(what));
            }
            v |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Malformed(what))
    }
    pub(crate) fn var_u32(&mut self, what: &'static str) -> Result<u32, Malformed> {
        u32::try_from(self.var(what)?).map_err(|_| Malformed(what))
    }
    pub(crate) fn var_u16(&mut self, what: &'static str) -> Result<u16, Malformed> {
        u16::try_from(self.var(what)?).map_err(|_| Malformed(what))
    }
    pub(crate) fn fixed(&mut self, what: &'static str) -> Result<u64, Malformed> {
        let head = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(head);
        Ok(u64::from_le_bytes(a))
    }
    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], Malformed> {
        if self.buf.len() < n {
            return Err(Malformed(what));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }
    pub(crate) fn blob(&mut self, what: &'static str) -> Result<&'a [u8], Malformed> {
        let n = self.var(what)?;
        let n = usize::try_from(n).map_err(|_| Malformed(what))?;
        self.take(n, what)
    }
    pub(crate) fn opt(&mut self, what: &'static str) -> Result<Option<u64>, Malformed> {
        match self.u8(what)? {
            0 => Ok(None),
            1 => Ok(Some(self.var(what)?)),
            _ => Err(Malformed(what)),
        }
    }
    pub(crate) fn end(&self, what: &'static str) -> Result<(), Malformed> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(Malformed(what))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_overlong_ones_are_refused() {
        for v in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX - 1, u64::MAX] {
            let mut o = Out::default();
            o.var(v);
            let mut i = In::new(&o.0);
            assert_eq!(i.var("v"), Ok(v));
            assert!(i.end("v").is_ok());
        }
        assert_eq!(In::new(&[0xff; 11]).var("v"), Err(Malformed("v")));
        assert_eq!(In::new(&[0x80]).var("v"), Err(Malformed("v")), "cut short");
        assert_eq!(In::new(&[3, 1, 2]).blob("b"), Err(Malformed("b")), "blob longer than the rest");
    }
}
