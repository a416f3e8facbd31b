package tokenizer

import "unicode"

// Character classes as the Rust and Oniguruma regex engines define them
// for \s, \p{L}, \p{N} and \p{P}: White_Space, and the Unicode general
// categories L*, N* and P*.
const (
	clsSpace  = 1 << iota // \s
	clsLetter             // \p{L}
	clsNumber             // \p{N}
	clsPunct              // \p{P}
)

// asciiClass holds the classes of the ASCII characters.
var asciiClass [128]uint8

func init() {
	for c := 0; c < 128; c++ {
		asciiClass[c] = classOfSlow(rune(c))
	}
}

func classOfSlow(r rune) uint8 {
	var k uint8
	if unicode.Is(unicode.White_Space, r) {
		k |= clsSpace
	}
	if unicode.IsLetter(r) {
		k |= clsLetter
	}
	if unicode.IsNumber(r) {
		k |= clsNumber
	}
	if unicode.IsPunct(r) {
		k |= clsPunct
	}
	return k
}

// classOf returns the character classes of r.
func classOf(r rune) uint8 {
	if r < 128 {
		return asciiClass[r]
	}
	return classOfSlow(r)
}
