package convert

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/memfit/memfit/internal/gguf"
	"github.com/memfit/memfit/internal/tokenizer"
)

// GGUF token types (gguf.TokenType).
const (
	tokNormal      = 1
	tokControl     = 3
	tokUserDefined = 4
	tokUnused      = 5
)

// vocab is the tokenizer.ggml.* metadata the converter writes for a
// byte-level BPE ("gpt2") vocabulary, with its SpecialVocab settings.
type vocab struct {
	addSpacePrefix *bool // llama-like models: tokenizer_config add_prefix_space
	pre            string
	tokens         []string
	types          []int32
	merges         []string
	specialIDs     []namedInt  // in the order the converter sets them
	addSpecial     []namedBool // likewise
	chatTemplate   any         // string, or a list of {name, template}
	lowercase      *bool
	stripAccents   *bool
	noBOS          bool  // granite's small models: add_bos_token false
	embedRows      int64 // tokens of tokenizer.json (vocab + added), for gemma3's embedding
}

type namedInt struct {
	name string
	id   int64
}

type namedBool struct {
	name string
	v    bool
}

// readVocab reads tokenizer.json (and tokenizer_config.json, config.json)
// as the converter's _set_vocab_gpt2 and SpecialVocab do.
func readVocab(dir string, h *hparams, llamaLike bool) (*vocab, error) {
	if _, err := os.Stat(filepath.Join(dir, "tokenizer.model")); err == nil {
		return nil, fmt.Errorf("convert: %s: the vocabulary is a SentencePiece model (tokenizer.model); memfit converts byte-level BPE vocabularies (tokenizer.json) only", dir)
	}
	tjPath := filepath.Join(dir, "tokenizer.json")
	tj, err := readJSONObject(tjPath)
	if err != nil {
		return nil, fmt.Errorf("convert: the vocabulary: %w", err)
	}
	model, _ := tj["model"].(map[string]any)
	if model == nil {
		return nil, fmt.Errorf("convert: %s: field model: missing", tjPath)
	}
	if t, _ := model["type"].(string); t != "BPE" {
		return nil, fmt.Errorf("convert: %s: model type %q: memfit converts byte-level BPE vocabularies only", tjPath, t)
	}
	if !usesByteLevel(tj) {
		return nil, fmt.Errorf("convert: %s: not a byte-level BPE vocabulary (no ByteLevel pre-tokenizer or decoder; SentencePiece-style vocabularies are not converted)", tjPath)
	}
	var tc map[string]any
	tcPath := filepath.Join(dir, "tokenizer_config.json")
	if m, err := readJSONObject(tcPath); err == nil {
		tc = m
	} else if !os.IsNotExist(unwrapPathErr(err)) {
		return nil, fmt.Errorf("convert: %w", err)
	}
	v := &vocab{}
	if llamaLike && tc != nil {
		if b, ok := tc["add_prefix_space"].(bool); ok {
			v.addSpacePrefix = &b
		}
	}
	if err := v.readTokens(dir, tjPath, tj, h); err != nil {
		return nil, err
	}
	if llamaLike {
		if n, ok := h.integer("vocab_size", h.m["vocab_size"]); ok && n == 49152 {
			v.noBOS = true
		}
	}
	if err := v.readSpecial(dir, tjPath, tj, tc); err != nil {
		return nil, err
	}
	return v, nil
}

// usesByteLevel reports whether the tokenizer maps bytes to symbols as
// GPT-2 does (a ByteLevel pre-tokenizer or decoder).
func usesByteLevel(tj map[string]any) bool {
	var has func(v any) bool
	has = func(v any) bool {
		o, ok := v.(map[string]any)
		if !ok {
			return false
		}
		if o["type"] == "ByteLevel" {
			return true
		}
		for _, k := range []string{"pretokenizers", "decoders"} {
			if l, ok := o[k].([]any); ok {
				for _, e := range l {
					if has(e) {
						return true
					}
				}
			}
		}
		return false
	}
	return has(tj["pre_tokenizer"]) || has(tj["decoder"])
}

// addedToken is one entry of tokenizer.json's added_tokens.
type addedToken struct {
	id      int64
	content string
	special bool
}

func addedTokens(tj map[string]any, path string) ([]addedToken, error) {
	l, _ := tj["added_tokens"].([]any)
	var out []addedToken
	for i, e := range l {
		o, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("convert: %s: added_tokens[%d] is not an object", path, i)
		}
		n, ok := o["id"].(json.Number)
		id, err := n.Int64()
		if !ok || err != nil || id < 0 {
			return nil, fmt.Errorf("convert: %s: added_tokens[%d].id is not a token id", path, i)
		}
		c, _ := o["content"].(string)
		sp, _ := o["special"].(bool)
		out = append(out, addedToken{id: id, content: c, special: sp})
	}
	return out, nil
}

// readTokens is get_vocab_base: every id below vocab_size, added tokens
// typed CONTROL or USER_DEFINED, gaps filled with [PADn]; and the
// pre-tokenizer name.
func (v *vocab) readTokens(dir, path string, tj map[string]any, h *hparams) error {
	model := tj["model"].(map[string]any)
	mv, ok := model["vocab"].(map[string]any)
	if !ok {
		return fmt.Errorf("convert: %s: model.vocab: missing or not an object", path)
	}
	added, err := addedTokens(tj, path)
	if err != nil {
		return err
	}
	v.embedRows = int64(len(mv) + len(added))
	byID := map[int64]string{}
	maxID := int64(-1)
	for tok, x := range mv {
		n, _ := x.(json.Number)
		id, err := n.Int64()
		if err != nil || id < 0 {
			return fmt.Errorf("convert: %s: model.vocab[%q] is not a token id", path, tok)
		}
		byID[id] = tok
		maxID = max(maxID, id)
	}
	isAdded := map[int64]addedToken{}
	for _, a := range added {
		byID[a.id] = a.content
		isAdded[a.id] = a
		maxID = max(maxID, a.id)
	}
	size := maxID + 1
	if n, ok := h.integer("vocab_size", h.m["vocab_size"]); ok {
		size = n
	}
	if maxID >= size {
		return fmt.Errorf("convert: %s: token id %d is not below vocab_size %d of config.json", path, maxID, size)
	}
	if size > 1<<24 {
		return fmt.Errorf("convert: %s: vocab_size %d is implausible", h.file, size)
	}
	v.tokens = make([]string, size)
	v.types = make([]int32, size)
	for i := int64(0); i < size; i++ {
		tok, ok := byID[i]
		switch {
		case !ok:
			v.tokens[i], v.types[i] = "[PAD"+strconv.FormatInt(i, 10)+"]", tokUnused
		case hasAdded(isAdded, i):
			if isAdded[i].special || looksSpecial(tok) {
				v.tokens[i], v.types[i] = tok, tokControl
			} else {
				v.tokens[i], v.types[i] = strings.ReplaceAll(tok, "\u2581", " "), tokUserDefined
			}
		default:
			v.tokens[i], v.types[i] = tok, tokNormal
		}
	}
	v.pre, err = preTokenizerName(dir, tj)
	return err
}

func hasAdded(m map[int64]addedToken, id int64) bool { _, ok := m[id]; return ok }

// looksSpecial is does_token_look_special.
func looksSpecial(t string) bool {
	switch t {
	case "<pad>", "<mask>", "<2mass>", "[@BOS@]":
		return true
	}
	return (strings.HasPrefix(t, "<|") && strings.HasSuffix(t, "|>")) ||
		(strings.HasPrefix(t, "<｜") && strings.HasSuffix(t, "｜>")) ||
		(strings.HasPrefix(t, "<unused") && strings.HasSuffix(t, ">"))
}

// preTokenizerName is get_vocab_base_pre: the ids of preTokenizerCheck
// (tokenized with special tokens, as transformers' encode) identify the
// pre-tokenizer. A tokenizer the converter does not know but whose
// pre-tokenizer is GPT-2's own (ByteLevel with its regex and nothing else)
// is named gpt-2; any other is an error, as in the converter.
func preTokenizerName(dir string, tj map[string]any) (string, error) {
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return "", fmt.Errorf("convert: %w", err)
	}
	ids := tok.Encode(preTokenizerCheck, true)
	var b strings.Builder
	b.WriteByte('[')
	for i, id := range ids {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(int(id)))
	}
	b.WriteByte(']')
	sum := sha256.Sum256([]byte(b.String()))
	h := hex.EncodeToString(sum[:])
	if name, ok := preTokenizers[h]; ok {
		return name, nil
	}
	if pt, ok := tj["pre_tokenizer"].(map[string]any); ok && pt["type"] == "ByteLevel" {
		if re, ok := pt["use_regex"].(bool); !ok || re {
			return "gpt-2", nil
		}
	}
	return "", fmt.Errorf("convert: %s: the BPE pre-tokenizer is not one llama.cpp knows (fingerprint %s)", dir, h)
}

// readSpecial is SpecialVocab (with merges): merges, special token ids,
// add_*_token flags, the chat template and normalizer flags.
func (v *vocab) readSpecial(dir, path string, tj, tc map[string]any) error {
	model := tj["model"].(map[string]any)
	if ms, ok := model["merges"].([]any); ok && len(ms) > 0 {
		for i, m := range ms {
			switch x := m.(type) {
			case string:
				v.merges = append(v.merges, x)
			case []any:
				if len(x) != 2 {
					return fmt.Errorf("convert: %s: model.merges[%d] is not a pair", path, i)
				}
				a, ok1 := x[0].(string)
				b, ok2 := x[1].(string)
				if !ok1 || !ok2 {
					return fmt.Errorf("convert: %s: model.merges[%d] is not a pair of strings", path, i)
				}
				enc := func(s string) string { return strings.ReplaceAll(s, " ", "\u0120") }
				v.merges = append(v.merges, enc(a)+" "+enc(b))
			default:
				return fmt.Errorf("convert: %s: unknown tokenizer merges format", path)
			}
		}
	}
	if n, ok := tj["normalizer"].(map[string]any); ok {
		v.parseNormalizer(n)
	}
	added, err := addedTokens(tj, path)
	if err != nil {
		return err
	}
	types := []string{"bos", "eos", "unk", "sep", "pad", "cls", "mask"}
	addIdx := map[string]int{}
	setAdd := func(name string, b bool) {
		if i, ok := addIdx[name]; ok {
			v.addSpecial[i].v = b
			return
		}
		addIdx[name] = len(v.addSpecial)
		v.addSpecial = append(v.addSpecial, namedBool{name, b})
	}
	idSet := map[string]bool{}
	setID := func(typ string, id any) {
		n, ok := id.(json.Number)
		if !ok {
			return
		}
		x, err := n.Int64()
		if err != nil || x < 0 || x > math.MaxUint32 || idSet[typ] {
			return
		}
		idSet[typ] = true
		v.specialIDs = append(v.specialIDs, namedInt{typ, x})
	}
	get := func(key string) any {
		if tc == nil {
			return nil
		}
		return tc[key]
	}
	specialBOS, specialCLS, specialEOS, specialSEP := get("bos_token"), get("cls_token"), get("eos_token"), get("sep_token")
	if !truthy(specialBOS) && truthy(specialCLS) && tc != nil {
		tc["bos_token"], specialBOS = specialCLS, specialCLS
	}
	if !truthy(specialEOS) && truthy(specialSEP) && tc != nil {
		tc["eos_token"], specialEOS = specialSEP, specialSEP
	}
	if pp, ok := tj["post_processor"].(map[string]any); ok {
		procs := []any{pp}
		if l, ok := pp["processors"].([]any); ok {
			procs = l
		}
		for _, pr := range procs {
			p, _ := pr.(map[string]any)
			switch p["type"] {
			case "RobertaProcessing":
				setAdd("bos", true)
				setAdd("eos", true)
				setAdd("sep", true)
				if !truthy(specialCLS) && tc != nil {
					specialCLS = specialBOS
					if c, ok := p["cls"].([]any); ok && len(c) > 0 {
						specialCLS = c[0]
					}
					tc["cls_token"] = specialCLS
				}
				if !truthy(specialSEP) && tc != nil {
					specialSEP = specialEOS
					if s, ok := p["sep"].([]any); ok && len(s) > 0 {
						specialSEP = s[0]
					}
					tc["sep_token"] = specialSEP
				}
			case "TemplateProcessing":
				single, _ := p["single"].([]any)
				var first, last any
				if len(single) > 1 {
					if first = specialTokenID(single[0]); truthy(first) {
						if tc == nil {
							specialBOS = first
						} else if !pyEq(first, specialBOS) && !pyEq(first, specialCLS) {
							if !truthy(specialBOS) {
								tc["bos_token"], specialBOS = first, first
							}
							if !truthy(specialCLS) {
								tc["cls_token"], specialCLS = first, first
							}
						}
						setAdd("bos", pyEq(first, specialBOS) || pyEq(first, specialCLS))
					}
					if last = specialTokenID(single[len(single)-1]); truthy(last) {
						if tc == nil {
							specialEOS = last
						} else if !pyEq(last, specialEOS) {
							switch {
							case !contains(types, "eot"):
								types = append(types, "eot")
								tc["eot_token"] = specialEOS
							case !contains(types, "eom"):
								types = append(types, "eom")
								tc["eom_token"] = specialEOS
							}
							tc["eos_token"], specialEOS = last, last
						}
						setAdd("eos", pyEq(last, specialEOS))
					}
				}
				if pair, _ := p["pair"].([]any); len(pair) > 0 {
					start, stop := 0, len(pair)
					if truthy(first) && pyEq(specialTokenID(pair[0]), first) {
						start = 1
					}
					if truthy(last) && pyEq(specialTokenID(pair[len(pair)-1]), last) {
						stop = len(pair) - 1
					}
					if start <= stop {
						pair = pair[start:stop]
					} else {
						pair = nil
					}
					if len(pair) > 0 {
						a, b := sequenceID(pair[0]), sequenceID(pair[len(pair)-1])
						if a == "A" && b == "B" && len(pair) > 2 {
							mid := pair[1 : len(pair)-1]
							addSep := false
							if e := specialTokenID(mid[0]); truthy(e) {
								if (pyEq(e, specialSEP) || pyEq(e, specialEOS)) && !truthy(last) {
									addSep = true
								}
							}
							if len(mid) == 2 {
								if e := specialTokenID(mid[1]); truthy(e) && (pyEq(e, specialSEP) || pyEq(e, specialEOS)) {
									addSep = true
								}
							}
							setAdd("sep", addSep)
							if addSep && !truthy(specialSEP) && tc != nil {
								tc["sep_token"] = specialEOS
							}
						}
					}
				}
			}
		}
	}
	if tc != nil {
		ct, err := chatTemplate(dir, tc)
		if err != nil {
			return err
		}
		v.chatTemplate = ct
		for _, typ := range types {
			if b, ok := tc["add_"+typ+"_token"].(bool); ok {
				setAdd(typ, b)
			}
			var content string
			switch e := tc[typ+"_token"].(type) {
			case string:
				content = e
			case map[string]any:
				c, ok := e["content"].(string)
				if !ok {
					continue
				}
				content = c
			default:
				continue
			}
			for _, a := range added {
				if a.content == content {
					setID(typ, json.Number(strconv.FormatInt(a.id, 10)))
					break
				}
			}
		}
	}
	if cfg, err := readJSONObject(filepath.Join(dir, "config.json")); err == nil {
		for _, typ := range types {
			id := cfg[typ+"_token_id"]
			if id == nil {
				if t, ok := cfg["text_config"].(map[string]any); ok {
					id = t[typ+"_token_id"]
				}
			}
			setID(typ, id)
		}
	}
	return nil
}

func contains(s []string, x string) bool {
	for _, e := range s {
		if e == x {
			return true
		}
	}
	return false
}

// specialTokenID returns item["SpecialToken"]["id"] of a TemplateProcessing
// entry (nil if absent).
func specialTokenID(item any) any {
	o, _ := item.(map[string]any)
	st, _ := o["SpecialToken"].(map[string]any)
	return st["id"]
}

func sequenceID(item any) string {
	o, _ := item.(map[string]any)
	st, _ := o["Sequence"].(map[string]any)
	s, _ := st["id"].(string)
	return s
}

// pyEq compares two JSON values as Python's == would for the strings and
// token objects tokenizer_config.json holds.
func pyEq(a, b any) bool {
	as, aok := a.(string)
	bs, bok := b.(string)
	if aok && bok {
		return as == bs
	}
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

func (v *vocab) parseNormalizer(n map[string]any) {
	t := true
	switch n["type"] {
	case "Lowercase":
		v.lowercase = &t
	case "StripAccents":
		v.stripAccents = &t
	case "BertNormalizer":
		if b, ok := n["lowercase"].(bool); ok {
			v.lowercase = &b
		}
		if b, ok := n["strip_accents"].(bool); ok {
			v.stripAccents = &b
		}
	case "Sequence":
		l, _ := n["normalizers"].([]any)
		for _, e := range l {
			if o, ok := e.(map[string]any); ok {
				v.parseNormalizer(o)
			}
		}
	}
}

// chatTemplate returns the chat template: tokenizer_config.json's, else
// chat_template.jinja (with additional_chat_templates/*.jinja) or
// chat_template.json's.
func chatTemplate(dir string, tc map[string]any) (any, error) {
	var alt any
	jinja := filepath.Join(dir, "chat_template.jinja")
	if b, err := os.ReadFile(jinja); err == nil {
		alt = string(b)
		extra, _ := filepath.Glob(filepath.Join(dir, "additional_chat_templates", "*.jinja"))
		if len(extra) > 0 {
			list := []any{map[string]any{"name": "default", "template": string(b)}}
			for _, p := range extra {
				t, err := os.ReadFile(p)
				if err != nil {
					return nil, fmt.Errorf("convert: %w", err)
				}
				list = append(list, map[string]any{"name": strings.TrimSuffix(filepath.Base(p), ".jinja"), "template": string(t)})
			}
			alt = list
		}
	} else if m, err := readJSONObject(filepath.Join(dir, "chat_template.json")); err == nil {
		alt = m["chat_template"]
	}
	ct, ok := tc["chat_template"]
	if !ok {
		ct = alt
	}
	switch ct.(type) {
	case nil, string, []any:
		return ct, nil
	}
	return nil, nil // the converter ignores a chat_template of another type
}

// write writes the vocabulary keys in the converter's order.
func (v *vocab) write(l *kvList) {
	if v.addSpacePrefix != nil {
		l.set("tokenizer.ggml.add_space_prefix", gguf.Bool(*v.addSpacePrefix))
	}
	l.set("tokenizer.ggml.model", gguf.String("gpt2"))
	l.set("tokenizer.ggml.pre", gguf.String(v.pre))
	l.set("tokenizer.ggml.tokens", gguf.Strings(v.tokens))
	l.set("tokenizer.ggml.token_type", gguf.Int32s(v.types))
	if len(v.merges) > 0 {
		l.set("tokenizer.ggml.merges", gguf.Strings(v.merges))
	}
	idKeys := map[string]string{"bos": "bos_token_id", "eos": "eos_token_id", "unk": "unknown_token_id", "sep": "seperator_token_id",
		"pad": "padding_token_id", "mask": "mask_token_id", "eot": "eot_token_id", "eom": "eom_token_id"}
	for _, s := range v.specialIDs {
		if k, ok := idKeys[s.name]; ok {
			l.set("tokenizer.ggml."+k, gguf.Uint32(uint32(s.id)))
		}
	}
	for _, a := range v.addSpecial {
		switch a.name {
		case "bos", "eos", "sep":
			l.set("tokenizer.ggml.add_"+a.name+"_token", gguf.Bool(a.v))
		}
	}
	switch ct := v.chatTemplate.(type) {
	case string:
		l.set("tokenizer.chat_template", gguf.String(ct))
	case []any:
		var def *string
		var names []string
		for _, e := range ct {
			o, _ := e.(map[string]any)
			name, _ := o["name"].(string)
			tmpl, ok := o["template"].(string)
			name = sanitizeTemplateName(name)
			if name == "" || !ok {
				continue
			}
			if name == "default" {
				t := tmpl
				def = &t
			} else {
				names = append(names, name)
				l.set("tokenizer.chat_template."+name, gguf.String(tmpl))
			}
		}
		if len(names) > 0 {
			sort.Strings(names)
			l.set("tokenizer.chat_templates", gguf.Strings(names))
		}
		if def != nil {
			l.set("tokenizer.chat_template", gguf.String(*def))
		}
	}
	if v.lowercase != nil {
		l.set("tokenizer.ggml.normalizer.lowercase", gguf.Bool(*v.lowercase))
	}
	if v.stripAccents != nil {
		l.set("tokenizer.ggml.normalizer.strip_accents", gguf.Bool(*v.stripAccents))
	}
	if v.noBOS {
		l.set("tokenizer.ggml.add_bos_token", gguf.Bool(false))
	}
}

func sanitizeTemplateName(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}
