package chat

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// pyIsSpace is Python's str.isspace for one code point (also what
// str.split() and str.strip() use, and the regex \s).
func pyIsSpace(r rune) bool {
	switch {
	case r >= 0x1c && r <= 0x1f:
		return true
	case r == 0x180e:
		return false
	}
	return unicode.IsSpace(r)
}

// rstripSpace strips trailing Python whitespace.
func rstripSpace(s string) string { return strings.TrimRightFunc(s, pyIsSpace) }

// isCased is CPython's _PyUnicode_IsCased.
func isCased(r rune) bool {
	return unicode.IsUpper(r) || unicode.IsLower(r) || unicode.IsTitle(r) ||
		unicode.In(r, unicode.Other_Lowercase, unicode.Other_Uppercase)
}

// isCaseIgnorable approximates the Unicode Case_Ignorable property.
func isCaseIgnorable(r rune) bool {
	switch r {
	case '\'', '.', ':', '^', '`', 0xb7, 0x2018, 0x2019, 0x2024, 0xfe52, 0xff07, 0xff0e:
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}

// finalSigma reports whether the capital sigma at rs[i] lowercases to ς.
func finalSigma(rs []rune, i int) bool {
	j := i - 1
	for j >= 0 && isCaseIgnorable(rs[j]) {
		j--
	}
	if j < 0 || !isCased(rs[j]) {
		return false
	}
	k := i + 1
	for k < len(rs) && isCaseIgnorable(rs[k]) {
		k++
	}
	return k == len(rs) || !isCased(rs[k])
}

func lowerRune(b *strings.Builder, rs []rune, i int) {
	r := rs[i]
	if r == 0x3a3 {
		if finalSigma(rs, i) {
			b.WriteRune(0x3c2)
		} else {
			b.WriteRune(0x3c3)
		}
		return
	}
	if s, ok := specialLower[r]; ok {
		b.WriteString(s)
		return
	}
	b.WriteRune(unicode.ToLower(r))
}

func upperRune(b *strings.Builder, r rune) {
	if s, ok := specialUpper[r]; ok {
		b.WriteString(s)
		return
	}
	b.WriteRune(unicode.ToUpper(r))
}

func titleRune(b *strings.Builder, r rune) {
	if s, ok := specialTitle[r]; ok {
		b.WriteString(s)
		return
	}
	b.WriteRune(unicode.ToTitle(r))
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// pyUpper is str.upper.
func pyUpper(s string) string {
	if isASCII(s) {
		return strings.ToUpper(s)
	}
	var b strings.Builder
	for _, r := range s {
		upperRune(&b, r)
	}
	return b.String()
}

// pyLower is str.lower.
func pyLower(s string) string {
	if isASCII(s) {
		return strings.ToLower(s)
	}
	rs := []rune(s)
	var b strings.Builder
	for i := range rs {
		lowerRune(&b, rs, i)
	}
	return b.String()
}

// pyCasefold is str.casefold.
func pyCasefold(s string) string {
	var b strings.Builder
	for _, r := range s {
		if f, ok := specialFold[r]; ok {
			b.WriteString(f)
		} else if l, ok := specialLower[r]; ok {
			b.WriteString(l)
		} else {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// pyTitle is str.title.
func pyTitle(s string) string {
	rs := []rune(s)
	var b strings.Builder
	prevCased := false
	for i, r := range rs {
		if prevCased {
			lowerRune(&b, rs, i)
		} else {
			titleRune(&b, r)
		}
		prevCased = isCased(r)
	}
	return b.String()
}

// pyCapitalize is str.capitalize.
func pyCapitalize(s string) string {
	rs := []rune(s)
	var b strings.Builder
	for i, r := range rs {
		if i == 0 {
			titleRune(&b, r)
		} else {
			lowerRune(&b, rs, i)
		}
	}
	return b.String()
}

// pySwapcase is str.swapcase.
func pySwapcase(s string) string {
	rs := []rune(s)
	var b strings.Builder
	for i, r := range rs {
		switch {
		case unicode.IsUpper(r):
			lowerRune(&b, rs, i)
		case unicode.IsLower(r):
			upperRune(&b, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// caseCheck implements islower/isupper: at least one cased character and no
// cased character of the other kind.
func caseCheck(s string, want func(rune) bool, other func(rune) bool) bool {
	cased := false
	for _, r := range s {
		if other(r) || unicode.IsTitle(r) {
			return false
		}
		if want(r) {
			cased = true
		}
	}
	return cased
}

func isLowerRune(r rune) bool {
	return unicode.IsLower(r) || unicode.Is(unicode.Other_Lowercase, r)
}

func isUpperRune(r rune) bool {
	return unicode.IsUpper(r) || unicode.Is(unicode.Other_Uppercase, r)
}

// pyIsTitle is str.istitle.
func pyIsTitle(s string) bool {
	cased, prevCased := false, false
	for _, r := range s {
		switch {
		case unicode.IsUpper(r) || unicode.IsTitle(r):
			if prevCased {
				return false
			}
			prevCased, cased = true, true
		case unicode.IsLower(r):
			if !prevCased {
				return false
			}
			prevCased, cased = true, true
		default:
			prevCased = false
		}
	}
	return cased
}

func isDecimalRune(r rune) bool { return unicode.Is(unicode.Nd, r) }

func isDigitRune(r rune) bool {
	if unicode.Is(unicode.Nd, r) {
		return true
	}
	switch {
	case r == 0xb2 || r == 0xb3 || r == 0xb9, r >= 0x2070 && r <= 0x2079, r >= 0x2080 && r <= 0x2089,
		r >= 0x2460 && r <= 0x2468, r >= 0x2474 && r <= 0x247c, r >= 0x2488 && r <= 0x2490,
		r >= 0x24f5 && r <= 0x24fd, r == 0x24ea || r == 0x24ff, r >= 0x2776 && r <= 0x277e,
		r >= 0x2780 && r <= 0x2788, r >= 0x278a && r <= 0x2792:
		return true
	}
	return false
}

func isNumericRune(r rune) bool {
	if unicode.In(r, unicode.Nd, unicode.Nl, unicode.No) {
		return true
	}
	switch r {
	case '〇', '一', '二', '三', '四', '五', '六', '七', '八', '九', '十', '百', '千', '万', '億', '兆', '零', '壹', '贰', '叁', '肆', '伍', '陆', '柒', '捌', '玖', '拾', '佰', '仟':
		return true
	}
	return false
}

// allRunes reports whether s is non-empty and every code point satisfies f.
func allRunes(s string, f func(rune) bool) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !f(r) {
			return false
		}
	}
	return true
}

// runeLen is len() of a Python str.
func runeLen(s string) int {
	if isASCII(s) {
		return len(s)
	}
	return utf8.RuneCountInString(s)
}
