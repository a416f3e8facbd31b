package tokenizer

import "unicode/utf8"

// byteToRune is GPT-2's bytes_to_unicode table: every byte maps to a
// printable character, printable Latin-1 bytes to themselves and the rest
// to U+0100 onwards in byte order.
var byteToRune [256]rune

// byteToString holds byteToRune as UTF-8 strings.
var byteToString [256]string

// runeToByte inverts byteToRune for runes below 0x200; absent runes are -1.
var runeToByte [0x200]int16

func init() {
	for i := range runeToByte {
		runeToByte[i] = -1
	}
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			byteToRune[b] = rune(b)
		} else {
			byteToRune[b] = rune(256 + n)
			n++
		}
		byteToString[b] = string(byteToRune[b])
		runeToByte[byteToRune[b]] = int16(b)
	}
}

// appendByteLevel appends the byte-level form of raw (each byte as its
// GPT-2 character) to dst.
func appendByteLevel(dst []byte, raw string) []byte {
	for i := 0; i < len(raw); i++ {
		dst = append(dst, byteToString[raw[i]]...)
	}
	return dst
}

// decodeByteLevel turns a byte-level string back into raw bytes, appending
// to dst. It reports false (leaving dst unchanged) if s has a character
// outside the byte-level alphabet.
func decodeByteLevel(dst []byte, s string) ([]byte, bool) {
	n := len(dst)
	for _, r := range s {
		if r >= 0x200 || runeToByte[r] < 0 {
			return dst[:n], false
		}
		dst = append(dst, byte(runeToByte[r]))
	}
	return dst, true
}

// appendLossy appends b to dst as valid UTF-8, replacing each maximal
// invalid subsequence with U+FFFD exactly as Rust's String::from_utf8_lossy
// (and the WHATWG decoder) do.
func appendLossy(dst []byte, b []byte) []byte {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			dst = append(dst, c)
			i++
			continue
		}
		n := validPrefix(b[i:])
		if n > 0 {
			dst = append(dst, b[i:i+n]...)
			i += n
			continue
		}
		dst = append(dst, "\uFFFD"...)
		i += invalidLen(b[i:])
	}
	return dst
}

// validPrefix returns the length of the complete valid UTF-8 character at
// the start of b, or 0.
func validPrefix(b []byte) int {
	r, n := utf8.DecodeRune(b)
	if r == utf8.RuneError && n <= 1 {
		return 0
	}
	return n
}

// invalidLen returns the length of the maximal subpart of an ill-formed
// sequence at the start of b (at least 1): the longest prefix that could
// begin a valid character.
func invalidLen(b []byte) int {
	c := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF)
	switch {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
		need = 2
	case c == 0xED:
		need, hi = 2, 0x9F
	case c == 0xF0:
		need, lo = 3, 0x90
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	case c == 0xF4:
		need, hi = 3, 0x8F
	default:
		return 1
	}
	i := 1
	for ; i <= need && i < len(b); i++ {
		if b[i] < lo || b[i] > hi {
			break
		}
		lo, hi = 0x80, 0xBF
	}
	return i
}

// utf8Incomplete returns how many bytes at the end of b form the start of
// a character that more bytes could still complete (0 if none).
func utf8Incomplete(b []byte) int {
	for k := 1; k <= 3 && k <= len(b); k++ {
		c := b[len(b)-k]
		if c < 0x80 {
			return 0
		}
		if c >= 0xC0 {
			tail := b[len(b)-k:]
			if invalidLen(tail) == len(tail) && len(tail) < seqLen(c) {
				return k
			}
			return 0
		}
	}
	return 0
}

// seqLen is the length of the UTF-8 sequence a lead byte starts (1 for an
// invalid lead).
func seqLen(c byte) int {
	switch {
	case c >= 0xC2 && c <= 0xDF:
		return 2
	case c >= 0xE0 && c <= 0xEF:
		return 3
	case c >= 0xF0 && c <= 0xF4:
		return 4
	}
	return 1
}
