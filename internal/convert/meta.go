package convert

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/memfit/memfit/internal/gguf"
)

// kvList is the metadata being built, with the converter's GGUFWriter
// semantics: setting a key that exists replaces its value in place.
type kvList struct {
	kvs   []gguf.KV
	index map[string]int
}

func (l *kvList) set(key string, v gguf.Value) {
	if l.index == nil {
		l.index = map[string]int{}
	}
	if i, ok := l.index[key]; ok {
		l.kvs[i].Value = v
		return
	}
	l.index[key] = len(l.kvs)
	l.kvs = append(l.kvs, gguf.KV{Key: key, Value: v})
}

func (l *kvList) has(key string) bool { _, ok := l.index[key]; return ok }

// archKVs sets arch-prefixed keys.
type archKVs struct {
	*kvList
	arch string
	h    *hparams // where a value that does not fit its key is reported
}

func (a archKVs) u32(key string, v int64) {
	if v < 0 || v > math.MaxUint32 {
		a.h.fail(key, "%d does not fit the GGUF key %s.%s (an unsigned 32-bit integer)", v, a.arch, key)
		return
	}
	a.set(a.arch+"."+key, gguf.Uint32(uint32(v)))
}
func (a archKVs) f32(key string, v float64) {
	a.set(a.arch+"."+key, gguf.Float32(float32(v)))
}
func (a archKVs) str(key, v string) { a.set(a.arch+"."+key, gguf.String(v)) }

// hparams is config.json as the converter sees it: raw JSON values.
type hparams struct {
	file string
	m    map[string]any
	// rope is the converter's rope_parameters (rope_parameters or
	// rope_scaling, with the top-level fields mirrored in).
	rope map[string]any
	err  error // first error met while reading fields
}

func readJSONObject(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if m == nil {
		return nil, fmt.Errorf("%s: not a JSON object", path)
	}
	return m, nil
}

func loadHparams(dir string) (*hparams, error) {
	path := filepath.Join(dir, "config.json")
	m, err := readJSONObject(path)
	if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	if tc, ok := m["text_config"].(map[string]any); ok {
		for k, v := range tc {
			m[k] = v
		}
	}
	h := &hparams{file: path, m: m}
	h.rope = map[string]any{}
	if rp, ok := m["rope_parameters"].(map[string]any); ok {
		h.rope = rp
	} else if rs, ok := m["rope_scaling"].(map[string]any); ok {
		h.rope = rs
	}
	_, full := h.rope["full_attention"]
	_, sliding := h.rope["sliding_attention"]
	if !full && !sliding {
		if v := h.find("local_rope_theta", "rope_local_theta", "rope_theta_local", "swa_rope_theta", "rope_local_base_freq"); v != nil {
			h.rope["sliding_attention"] = map[string]any{"rope_theta": v}
		}
		mirror := func(key string, v any) {
			if _, ok := h.rope[key]; !ok && v != nil {
				h.rope[key] = v
			}
		}
		mirror("rope_theta", h.find("global_rope_theta", "rope_global_theta", "rope_theta_global", "rope_theta", "rotary_emb_base"))
		mirror("rope_type", h.rope["type"])
		mirror("partial_rotary_factor", h.find("partial_rotary_factor", "rope_pct", "rope_percent"))
		mirror("original_max_position_embeddings", h.find("original_max_position_embeddings"))
	}
	return h, nil
}

// find is find_hparam: the value of the first key present (nil if none).
func (h *hparams) find(keys ...string) any {
	for _, k := range keys {
		if v, ok := h.m[k]; ok {
			return v
		}
	}
	return nil
}

func (h *hparams) fail(key, format string, args ...any) {
	if h.err == nil {
		h.err = fmt.Errorf("convert: %s: field %s: %s", h.file, key, fmt.Sprintf(format, args...))
	}
}

// integer converts a JSON value to an integer (nil: ok false).
func (h *hparams) integer(key string, v any) (int64, bool) {
	if v == nil {
		return 0, false
	}
	n, ok := v.(json.Number)
	if !ok {
		h.fail(key, "%v is not a number", v)
		return 0, false
	}
	if i, err := n.Int64(); err == nil {
		return i, true
	}
	f, err := n.Float64()
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		h.fail(key, "%v is not an integer", v)
		return 0, false
	}
	return int64(f), true
}

func (h *hparams) number(key string, v any) (float64, bool) {
	if v == nil {
		return 0, false
	}
	n, ok := v.(json.Number)
	if !ok {
		h.fail(key, "%v is not a number", v)
		return 0, false
	}
	f, err := n.Float64()
	if err != nil {
		h.fail(key, "%v is not a number", v)
		return 0, false
	}
	return f, true
}

// truthy is Python truthiness of a JSON value.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case json.Number:
		f, _ := x.Float64()
		return f != 0
	case string:
		return x != ""
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	return true
}

// ropeParams is rope_parameters["full_attention"] or rope_parameters.
func (h *hparams) ropeParams() map[string]any {
	if f, ok := h.rope["full_attention"].(map[string]any); ok {
		return f
	}
	return h.rope
}

// textModelParams is TextModel.set_gguf_parameters.
func textModelParams(a archKVs, h *hparams, blockCount int64, fileType uint32) {
	a.u32("block_count", blockCount)
	if n, ok := h.integer("max_position_embeddings", h.find("max_position_embeddings", "n_ctx", "n_positions", "max_length", "max_sequence_length", "model_max_length")); ok {
		a.u32("context_length", n)
	}
	if n, ok := h.integer("hidden_size", h.find("hidden_size", "n_embd", "dim")); ok {
		a.u32("embedding_length", n)
	}
	if n, ok := h.integer("intermediate_size", h.find("prefix_dense_intermediate_size", "dense_intermediate_size", "intermediate_size", "n_inner", "hidden_dim")); ok {
		a.u32("feed_forward_length", n)
	}
	if n, ok := h.integer("num_attention_heads", h.find("num_attention_heads", "n_head", "n_heads")); ok {
		a.u32("attention.head_count", n)
	}
	if n, ok := h.integer("num_key_value_heads", h.find("num_key_value_heads", "n_kv_heads")); ok {
		a.u32("attention.head_count_kv", n)
	}
	if c, ok := h.m["is_causal"].(bool); ok && !c {
		a.set(a.arch+".attention.causal", gguf.Bool(false))
	}
	rp := h.ropeParams()
	if rt, ok := rp["rope_type"].(string); ok {
		factor, hasFactor := h.number("rope factor", rp["factor"])
		switch {
		case rt == "linear" && hasFactor:
			a.str("rope.scaling.type", "linear")
			a.f32("rope.scaling.factor", factor)
		case rt == "yarn" && hasFactor:
			a.str("rope.scaling.type", "yarn")
			a.f32("rope.scaling.factor", factor)
			orig, ok := h.integer("original_max_position_embeddings", rp["original_max_position_embeddings"])
			if !ok {
				h.fail("rope_scaling", "yarn scaling without original_max_position_embeddings")
			}
			a.u32("rope.scaling.original_context_length", orig)
			if v, ok := h.number("extrapolation_factor", rp["extrapolation_factor"]); ok {
				a.f32("rope.scaling.yarn_ext_factor", v)
			}
			attn := rp["attention_factor"]
			if attn == nil {
				attn = rp["attn_factor"]
			}
			if v, ok := h.number("attention_factor", attn); ok {
				a.f32("rope.scaling.yarn_attn_factor", v)
			}
			if v, ok := h.number("beta_fast", rp["beta_fast"]); ok {
				a.f32("rope.scaling.yarn_beta_fast", v)
			}
			if v, ok := h.number("beta_slow", rp["beta_slow"]); ok {
				a.f32("rope.scaling.yarn_beta_slow", v)
			}
		case rt == "su" || rt == "longrope":
			a.str("rope.scaling.type", "longrope")
		}
	}
	if v, ok := h.number("rope_theta", rp["rope_theta"]); ok {
		a.f32("rope.freq_base", v)
	}
	if s, ok := h.rope["sliding_attention"].(map[string]any); ok {
		if v, ok := h.number("rope_theta", s["rope_theta"]); ok {
			a.f32("rope.freq_base_swa", v)
		}
	}
	if v, ok := h.number("rms_norm_eps", h.find("rms_norm_eps", "norm_eps")); ok {
		a.f32("attention.layer_norm_rms_epsilon", v)
	}
	if v, ok := h.number("layer_norm_eps", h.find("layer_norm_eps", "layer_norm_epsilon", "norm_epsilon")); ok {
		a.f32("attention.layer_norm_epsilon", v)
	}
	if n, ok := h.integer("num_experts", h.find("num_local_experts", "num_experts", "n_routed_experts")); ok {
		a.u32("expert_count", n)
	}
	if n, ok := h.integer("num_experts_per_tok", h.find("num_experts_per_tok", "num_experts_per_token", "top_k_experts")); ok {
		a.u32("expert_used_count", n)
	}
	if n, ok := h.integer("n_group", h.m["n_group"]); ok {
		a.u32("expert_group_count", n)
	}
	if n, ok := h.integer("topk_group", h.m["topk_group"]); ok {
		a.u32("expert_group_used_count", n)
	}
	if f := h.find("score_function", "scoring_func", "score_func", "moe_router_activation", "moe_router_activation_func", "expert_selection_fn"); f != nil {
		switch f {
		case "sigmoid":
			a.u32("expert_gating_func", 2)
		case "softmax":
			a.u32("expert_gating_func", 1)
		case "sqrtsoftplus":
			a.u32("expert_gating_func", 4)
		default:
			h.fail("score_function", "unsupported expert gating function %v", f)
		}
	}
	if n, ok := h.integer("head_dim", h.m["head_dim"]); ok {
		a.u32("attention.key_length", n)
		a.u32("attention.value_length", n)
	}
	a.set("general.file_type", gguf.Uint32(fileType))
}

// familyParams writes the hyper-parameter keys of one converter model class
// (set_gguf_parameters).
type familyParams func(a archKVs, h *hparams, blockCount int64, fileType uint32)

// llamaParams is LlamaModel (llama, mistral, mixtral).
func llamaParams(a archKVs, h *hparams, blockCount int64, fileType uint32) {
	textModelParams(a, h, blockCount, fileType)
	if n, ok := h.integer("vocab_size", h.m["vocab_size"]); ok {
		a.u32("vocab_size", n)
	} else {
		h.fail("vocab_size", "missing")
	}
	a.u32("rope.dimension_count", llamaRopeDim(h))
}

func llamaRopeDim(h *hparams) int64 {
	if n, ok := h.integer("head_dim", h.m["head_dim"]); ok {
		return n
	}
	hidden, _ := h.integer("hidden_size", h.m["hidden_size"])
	heads, _ := h.integer("num_attention_heads", h.m["num_attention_heads"])
	if heads <= 0 {
		h.fail("num_attention_heads", "missing or not positive")
		return 0
	}
	return pyFloorDiv(hidden, heads)
}

func pyFloorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// graniteParams is GraniteModel (and GraniteMoeModel's extra key).
func graniteParams(moe bool) familyParams {
	return func(a archKVs, h *hparams, blockCount int64, fileType uint32) {
		delete(h.m, "head_dim") // the converter ignores head_dim for Granite
		llamaParams(a, h, blockCount, fileType)
		for _, kv := range [][2]string{
			{"attention_multiplier", "attention.scale"}, {"embedding_multiplier", "embedding_scale"},
			{"residual_multiplier", "residual_scale"}, {"logits_scaling", "logit_scale"},
		} {
			if truthy(h.m[kv[0]]) {
				if v, ok := h.number(kv[0], h.m[kv[0]]); ok {
					a.f32(kv[1], v)
				}
			}
		}
		if moe && truthy(h.m["shared_intermediate_size"]) {
			if n, ok := h.integer("shared_intermediate_size", h.m["shared_intermediate_size"]); ok {
				a.u32("expert_shared_feed_forward_length", n)
			}
		}
	}
}

// qwenMoEParams is Qwen2MoeModel (qwen2moe, qwen3moe).
func qwenMoEParams(a archKVs, h *hparams, blockCount int64, fileType uint32) {
	textModelParams(a, h, blockCount, fileType)
	if n, ok := h.integer("moe_intermediate_size", h.m["moe_intermediate_size"]); ok {
		a.u32("expert_feed_forward_length", n)
	}
	if n, ok := h.integer("shared_expert_intermediate_size", h.m["shared_expert_intermediate_size"]); ok {
		a.u32("expert_shared_feed_forward_length", n)
	}
}

// olmoeParams is OlmoeModel: the RMS epsilon is always written as 1e-5.
func olmoeParams(a archKVs, h *hparams, blockCount int64, fileType uint32) {
	textModelParams(a, h, blockCount, fileType)
	a.f32("attention.layer_norm_rms_epsilon", 1e-5)
}

// gemma2Params is Gemma2Model.
func gemma2Params(a archKVs, h *hparams, blockCount int64, fileType uint32) {
	req := func(key string) int64 {
		n, ok := h.integer(key, h.m[key])
		if !ok {
			h.fail(key, "missing")
		}
		return n
	}
	reqF := func(key string) float64 {
		v, ok := h.number(key, h.m[key])
		if !ok {
			h.fail(key, "missing")
		}
		return v
	}
	a.u32("context_length", req("max_position_embeddings"))
	a.u32("embedding_length", req("hidden_size"))
	a.u32("block_count", blockCount)
	a.u32("feed_forward_length", req("intermediate_size"))
	a.u32("attention.head_count", req("num_attention_heads"))
	if _, ok := h.m["num_key_value_heads"]; ok {
		a.u32("attention.head_count_kv", req("num_key_value_heads"))
	} else {
		a.u32("attention.head_count_kv", req("num_attention_heads"))
	}
	a.f32("attention.layer_norm_rms_epsilon", reqF("rms_norm_eps"))
	a.u32("attention.key_length", req("head_dim"))
	a.u32("attention.value_length", req("head_dim"))
	a.set("general.file_type", gguf.Uint32(fileType))
	a.f32("attn_logit_softcapping", reqF("attn_logit_softcapping"))
	a.f32("final_logit_softcapping", reqF("final_logit_softcapping"))
	a.u32("attention.sliding_window", req("sliding_window"))
}

// gemma3Params is Gemma3Model.
func gemma3Params(a archKVs, h *hparams, blockCount int64, fileType uint32) {
	textModelParams(a, h, blockCount, fileType)
	intOr := func(key string, def int64) int64 {
		if n, ok := h.integer(key, h.m[key]); ok {
			return n
		}
		return def
	}
	a.u32("context_length", intOr("max_position_embeddings", 131072))
	a.u32("attention.head_count", intOr("num_attention_heads", 8))
	eps := 1e-6
	if v, ok := h.number("rms_norm_eps", h.m["rms_norm_eps"]); ok {
		eps = v
	}
	a.f32("attention.layer_norm_rms_epsilon", eps)
	a.u32("attention.key_length", intOr("head_dim", 256))
	a.u32("attention.value_length", intOr("head_dim", 256))
	theta := 1e6
	if v, ok := h.number("rope_theta", h.ropeParams()["rope_theta"]); ok {
		theta = v
	}
	a.f32("rope.freq_base", theta)
	if h.m["attn_logit_softcapping"] != nil {
		h.fail("attn_logit_softcapping", "must be null for Gemma 3")
	}
	if truthy(h.m["final_logit_softcapping"]) {
		v, _ := h.number("final_logit_softcapping", h.m["final_logit_softcapping"])
		a.f32("final_logit_softcapping", v)
	}
	if p, ok := h.integer("sliding_window_pattern", h.m["sliding_window_pattern"]); !ok || p != 1 {
		n, ok := h.integer("sliding_window", h.m["sliding_window"])
		if !ok {
			h.fail("sliding_window", "missing")
		}
		a.u32("attention.sliding_window", n)
	}
	a.u32("attention.head_count_kv", intOr("num_key_value_heads", 4))
}

// phi3Params is Phi3MiniModel.
func phi3Params(a archKVs, h *hparams, blockCount int64, fileType uint32) {
	req := func(key string, v any) int64 {
		n, ok := h.integer(key, v)
		if !ok {
			h.fail(key, "missing")
		}
		return n
	}
	embd := req("hidden_size", h.find("hidden_size", "n_embd"))
	heads := req("num_attention_heads", h.find("num_attention_heads", "n_head"))
	kv := req("num_key_value_heads", h.find("num_key_value_heads", "n_head_kv"))
	eps, ok := h.number("rms_norm_eps", h.m["rms_norm_eps"])
	if !ok {
		h.fail("rms_norm_eps", "missing")
	}
	maxPos := req("max_position_embeddings", h.find("n_positions", "max_position_embeddings"))
	orig := req("original_max_position_embeddings", h.rope["original_max_position_embeddings"])
	rot := 1.0
	if v, ok := h.number("partial_rotary_factor", h.rope["partial_rotary_factor"]); ok {
		rot = v
	}
	if heads <= 0 {
		h.fail("num_attention_heads", "not positive")
		return
	}
	ropeDims := pyFloorDiv(int64(rot*float64(embd)), heads)
	a.u32("context_length", maxPos)
	a.u32("rope.scaling.original_context_length", orig)
	a.u32("embedding_length", embd)
	a.u32("feed_forward_length", req("intermediate_size", h.m["intermediate_size"]))
	a.u32("block_count", blockCount)
	a.u32("attention.head_count", heads)
	a.u32("attention.head_count_kv", kv)
	a.f32("attention.layer_norm_rms_epsilon", eps)
	a.u32("rope.dimension_count", ropeDims)
	theta, ok := h.number("rope_theta", h.ropeParams()["rope_theta"])
	if !ok {
		h.fail("rope_theta", "missing")
	}
	a.f32("rope.freq_base", theta)
	a.set("general.file_type", gguf.Uint32(fileType))
	sw := int64(0)
	if n, ok := h.integer("sliding_window", h.m["sliding_window"]); ok {
		sw = n
	}
	a.u32("attention.sliding_window", sw)
	if truthy(h.rope["long_factor"]) {
		h.fail("rope_scaling", "Phi-3 long-context rope factors are not converted by memfit")
	}
}

// generalMeta writes the converter's general.* model metadata: sampling
// defaults from generation_config.json, the name and what its heuristics
// read from the folder name, and the size label.
func generalMeta(l *kvList, dir string, h *hparams, total, shared, expert, experts int64) error {
	if g, err := readJSONObject(filepath.Join(dir, "generation_config.json")); err == nil {
		gh := &hparams{file: filepath.Join(dir, "generation_config.json"), m: g}
		if v, ok := gh.integer("top_k", g["top_k"]); ok {
			l.set("general.sampling.top_k", gguf.Int32(int32(v)))
		}
		if v, ok := gh.number("top_p", g["top_p"]); ok {
			l.set("general.sampling.top_p", gguf.Float32(float32(v)))
		}
		if v, ok := gh.number("min_p", g["min_p"]); ok {
			l.set("general.sampling.min_p", gguf.Float32(float32(v)))
		}
		if v, ok := gh.number("temperature", g["temperature"]); ok {
			l.set("general.sampling.temp", gguf.Float32(float32(v)))
		}
		if gh.err != nil {
			return gh.err
		}
	} else if !os.IsNotExist(unwrapPathErr(err)) {
		return fmt.Errorf("convert: %w", err)
	}
	modelID := filepath.Base(filepath.Clean(dir))
	if p, ok := h.m["_name_or_path"].(string); ok && strings.Count(p, "/") <= 1 {
		modelID = p
	}
	full, org, base, finetune, version, size := modelIDComponents(modelID, total)
	name := modelID
	if full != "" {
		name = idToTitle(full)
	}
	l.set("general.name", gguf.String(name))
	if version != "" {
		l.set("general.version", gguf.String(version))
	}
	if org != "" {
		l.set("general.organization", gguf.String(idToTitle(org)))
	}
	if finetune != "" {
		l.set("general.finetune", gguf.String(finetune))
	}
	if base != "" {
		l.set("general.basename", gguf.String(base))
	}
	if size == "" && total > 0 {
		size = sizeLabel(total, shared, expert, experts)
	}
	if size != "" {
		l.set("general.size_label", gguf.String(size))
	}
	return nil
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe
	}
	return err
}

// idToTitle is the converter's Metadata.id_to_title.
func idToTitle(s string) string {
	words := strings.Fields(strings.ReplaceAll(strings.TrimSpace(s), "-", " "))
	for i, w := range words {
		if isLowerPy(w) && !reVersionOrDigit.MatchString(w) {
			words[i] = pyTitle(w)
		}
	}
	return strings.Join(words, " ")
}

var reVersionOrDigit = regexp.MustCompile(`^(v\d+(?:\.\d+)*|\d.*)$`)

// isLowerPy is Python's str.islower: some cased letters, none upper case.
func isLowerPy(s string) bool {
	cased := false
	for _, r := range s {
		if unicode.IsUpper(r) || unicode.IsTitle(r) {
			return false
		}
		if unicode.IsLower(r) {
			cased = true
		}
	}
	return cased
}

// pyTitle is Python's str.title: each run of letters starts upper case.
func pyTitle(s string) string {
	var b strings.Builder
	prevCased := false
	for _, r := range s {
		if unicode.IsLetter(r) {
			if prevCased {
				b.WriteRune(unicode.ToLower(r))
			} else {
				b.WriteRune(unicode.ToTitle(r))
			}
			prevCased = true
		} else {
			b.WriteRune(r)
			prevCased = false
		}
	}
	return b.String()
}

var (
	reNameVersion  = regexp.MustCompile(`(?i)^(v|iter)?\d+([.]\d+)*$`)
	reNameType     = regexp.MustCompile(`(?i)^(i?q\d(_\w)*|b?fp?(16|32))$`)
	reNameSize     = regexp.MustCompile(`(?i)^(([A]|\d+[x])?\d+([._]\d+)?[KMBT][\d]?|small|mini|medium|large|x?xl)$`)
	reNameFinetune = regexp.MustCompile(`(?i)^(chat|instruct|vision|lora)$`)
)

// modelIDComponents is the converter's Metadata.get_model_id_components:
// the name, organisation, base name, fine-tune, version and size label its
// heuristics read from a model id such as "org/Name-7B-Instruct-v0.1".
func modelIDComponents(id string, total int64) (full, org, base, finetune, version, size string) {
	if id == "" {
		return
	}
	if strings.Contains(id, " ") {
		return id, "", "", "", "", ""
	}
	full = id
	if o, rest, ok := strings.Cut(id, "/"); ok {
		org, full = o, rest
		if strings.HasPrefix(org, ".") {
			org = ""
		}
	}
	var parts []string
	for _, p := range strings.Split(full, "-") {
		if p != "" {
			parts = append(parts, p)
		}
	}
	types := make([]map[string]bool, len(parts))
	for i, part := range parts {
		t := map[string]bool{}
		types[i] = t
		switch {
		case reNameVersion.MatchString(part):
			t["version"] = true
		case reNameType.MatchString(part):
			t["type"] = true
			parts[i] = strings.ToUpper(part)
		case i > 0 && reNameSize.MatchString(part):
			part = strings.ReplaceAll(part, "_", ".")
			if last := part[len(part)-1]; last >= '0' && last <= '9' && len(part) >= 2 {
				part = part[:len(part)-2] + "." + part[len(part)-1:] + part[len(part)-2:len(part)-1]
			}
			if len(part) > 1 && part[len(part)-2] >= '0' && part[len(part)-2] <= '9' && strings.ContainsRune("kmbt", rune(part[len(part)-1])) {
				part = part[:len(part)-1] + strings.ToUpper(part[len(part)-1:])
			}
			if total != 0 {
				if f, err := strconv.ParseFloat(part[:len(part)-1], 64); err == nil {
					label := f * math.Pow(1000, float64(strings.Index(" KMBT", part[len(part)-1:])))
					if (total < 0 && label < float64(-total/8)) || (total > 0 && math.Abs(label-float64(total)) > float64(7*total/8)) {
						t["finetune"] = true
						part = part[:len(part)-1] + strings.ToLower(part[len(part)-1:])
					}
				}
			}
			if len(t) == 0 {
				t["size_label"] = true
			}
			parts[i] = part
		case i > 0 && reNameFinetune.MatchString(part):
			if total < 0 && strings.EqualFold(part, "lora") {
				t["type"] = true
			} else {
				t["finetune"] = true
			}
		}
	}
	hasNumericSize := false
	for i, p := range parts {
		if types[i]["size_label"] && strings.ContainsAny(p, "0123456789") {
			hasNumericSize = true
		}
	}
	if hasNumericSize {
		for i, p := range parts {
			if types[i]["size_label"] && isAlphaPy(p) {
				delete(types[i], "size_label")
			}
		}
	}
	atStart := true
	for i, p := range parts {
		t := types[i]
		if atStart && ((len(t) == 0 && unicode.IsLetter([]rune(p)[0])) || t["version"]) {
			t["basename"] = true
		} else {
			atStart = false
			if len(t) == 0 {
				t["finetune"] = true
			}
		}
	}
	for i := len(parts) - 1; i >= 0; i-- {
		if types[i]["basename"] && len(types[i]) > 1 {
			delete(types[i], "basename")
		} else {
			break
		}
	}
	join := func(pred func(map[string]bool) bool, dedupe bool) string {
		var out []string
		seen := map[string]bool{}
		for i, p := range parts {
			if pred(types[i]) && !(dedupe && seen[p]) {
				out = append(out, p)
				seen[p] = true
			}
		}
		return strings.Join(out, "-")
	}
	base = join(func(t map[string]bool) bool { return t["basename"] }, false)
	size = join(func(t map[string]bool) bool { return t["size_label"] }, true)
	finetune = join(func(t map[string]bool) bool { return t["finetune"] }, false)
	version = join(func(t map[string]bool) bool { return t["version"] && !t["basename"] }, false)
	if size == "" && finetune == "" && version == "" {
		base = ""
	}
	return full, org, base, finetune, version, size
}

func isAlphaPy(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !unicode.IsLetter(r) {
			return false
		}
	}
	return true
}

// sizeLabel is gguf-py's size_label: "4.2M", "8.0B", "8x7.2B".
func sizeLabel(total, shared, expert, experts int64) string {
	if experts > 0 {
		return fmt.Sprintf("%dx%s", experts, roundedCount(abs64(shared)+abs64(expert)))
	}
	return roundedCount(abs64(total))
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// roundedCount is model_weight_count_rounded_notation with min_digits 2.
func roundedCount(n int64) string {
	x := float64(n)
	var scaled float64
	var suffix string
	switch {
	case x > 1e12:
		scaled, suffix = x*1e-12, "T"
	case x > 1e9:
		scaled, suffix = x*1e-9, "B"
	case x > 1e6:
		scaled, suffix = x*1e-6, "M"
	default:
		scaled, suffix = x*1e-3, "K"
	}
	digits := strings.TrimLeft(strconv.FormatFloat(math.RoundToEven(scaled), 'f', 0, 64), "0")
	fix := max(2-len(digits), 0)
	return strconv.FormatFloat(scaled, 'f', fix, 64) + suffix
}
