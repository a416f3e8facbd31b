package synth

// vocab builds a GPT-2 style byte-level BPE vocabulary of n tokens: three
// control tokens, the 256 byte symbols, then merged tokens, each with the
// merge that makes it, so llama.cpp's and memfit's BPE both accept it.
func vocab(n int) (tokens []string, types []int32, merges []string) {
	tokens = []string{"<pad>", "<bos>", "<eos>"}
	types = []int32{3, 3, 3}
	bytes := byteSymbols()
	// Letters, digits and the space symbol first, so common text merges.
	order := make([]string, 0, 256)
	seen := map[string]bool{}
	add := func(r rune) {
		s := bytes[r]
		if !seen[s] {
			seen[s] = true
			order = append(order, s)
		}
	}
	for _, c := range " etaoinshrdlucmfwypvbgkjqxzETAOINSHRDLUCMFWYPVBGKJQXZ0123456789.,;:(){}[]\n\t_-=+*/\"'<>!?&|%$#@^~`\\" {
		add(c)
	}
	for b := 0; b < 256; b++ {
		add(rune(b))
	}
	for b := 0; b < 256; b++ {
		tokens = append(tokens, bytes[rune(b)])
		types = append(types, 1)
	}
	have := map[string]bool{}
	for _, t := range tokens {
		have[t] = true
	}
	// Merge generations: pairs of the previous generation's tokens with
	// single symbols, in a fixed order, until the vocabulary is full.
	prev := order
	for len(tokens) < n {
		var next []string
		for _, a := range prev {
			for _, b := range order {
				if len(tokens) >= n {
					return tokens, types, merges
				}
				t := a + b
				if have[t] {
					continue
				}
				have[t] = true
				tokens = append(tokens, t)
				types = append(types, 1)
				merges = append(merges, a+" "+b)
				next = append(next, t)
			}
		}
		prev = next
	}
	return tokens[:n], types[:n], merges
}

// byteSymbols is GPT-2's bytes_to_unicode: byte b → the rune standing for it.
func byteSymbols() map[rune]string {
	m := map[rune]string{}
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			m[rune(b)] = string(rune(b))
		} else {
			m[rune(b)] = string(rune(256 + n))
			n++
		}
	}
	return m
}
