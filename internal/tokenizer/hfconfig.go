package tokenizer

// eogNames are the token strings llama.cpp treats as end of generation
// besides EOS (llama-vocab.cpp).
var eogNames = []string{
	"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<end_of_turn>",
	"<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>", "<|end_of_text|>", "<end_of_utterance>",
	"<eos>", // Gemma's model EOS when the config names <end_of_turn>
}

// applyHFConfig reads bos_token and eos_token from tokenizer_config.json
// (nil data: no config) and derives AddBOS/AddEOS from the post-processor.
func (t *Tokenizer) applyHFConfig(data []byte, name string) error {
	if data != nil {
		p := &jsonParser{data: data, name: name}
		v, err := p.value()
		if err == nil {
			err = p.end()
		}
		if err != nil {
			return err
		}
		m, ok := v.(map[string]any)
		if !ok {
			return p.errorf("want a JSON object")
		}
		cfg := obj{m: m, file: name}
		for _, f := range []struct {
			key string
			dst *int32
		}{{"bos_token", &t.bos}, {"eos_token", &t.eos}} {
			tok, err := configToken(cfg, f.key)
			if err != nil {
				return err
			}
			if tok == "" {
				continue
			}
			id, ok := t.TokenID(tok)
			if !ok {
				return cfg.errorf(f.key, "token %q is not in the vocabulary", tok)
			}
			*f.dst = id
		}
	}
	if t.post != nil {
		withSpecial := t.post.process(nil, nil)
		t.addBOS = len(withSpecial) > 0 && t.bos >= 0 && withSpecial[0] == t.bos
		t.addEOS = len(withSpecial) > 0 && t.eos >= 0 && withSpecial[len(withSpecial)-1] == t.eos
	}
	t.setEOG(nil)
	return nil
}

// configToken reads a token field that is a string or an AddedToken
// object {"content": ...}; "" if absent or null.
func configToken(cfg obj, key string) (string, error) {
	switch v := cfg.m[key].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case map[string]any:
		return obj{m: v, path: key, file: cfg.file}.str("content")
	default:
		return "", cfg.errorf(key, "want a string or an object with content, found %s", typeName(v))
	}
}

// setEOG collects EOS, the given ids and the end-of-turn tokens llama.cpp
// recognises by name.
func (t *Tokenizer) setEOG(extra []int32) {
	seen := map[int32]bool{}
	add := func(id int32) {
		if id >= 0 && int(id) < len(t.pieces) && !seen[id] {
			seen[id] = true
			t.eog = append(t.eog, id)
		}
	}
	add(t.eos)
	for _, id := range extra {
		add(id)
	}
	for _, name := range eogNames {
		if id, ok := t.TokenID(name); ok && (t.kinds[id]&(kindAdded|kindControl) != 0) {
			add(id)
		}
	}
}
