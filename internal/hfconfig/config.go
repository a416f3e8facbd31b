// Package hfconfig reads a Hugging Face model folder's config.json and
// generation_config.json: the hyper-parameters memfit needs, with RoPE
// settings in both spellings (transformers 5's rope_parameters and the older
// top-level rope_theta / rope_scaling), head_dim different from
// hidden/heads, tied embeddings and mixture-of-experts fields. Missing or
// contradictory fields are errors naming the file and the field.
package hfconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
)

// RoPE describes rotary position embedding frequencies.
type RoPE struct {
	Type                 string  // "default", "linear", "llama3", ...
	Theta                float64 // base
	Factor               float64 // linear and llama3 scaling factor (1 when unscaled)
	LowFreqFactor        float64 // llama3
	HighFreqFactor       float64 // llama3
	OriginalMaxPositions int     // llama3
}

// Config is the subset of config.json memfit uses. Zero values mean the
// field was absent where that is allowed.
type Config struct {
	Path          string
	ModelType     string
	Architectures []string

	VocabSize        int
	HiddenSize       int
	IntermediateSize int
	NumLayers        int
	NumHeads         int
	NumKVHeads       int
	HeadDim          int // head_dim if given, else hidden_size / num_attention_heads
	MaxPositions     int
	RMSNormEps       float64
	HiddenAct        string
	TieEmbeddings    bool
	AttentionBias    bool

	RoPE                RoPE
	RoPELocal           *RoPE   // separate RoPE of sliding-window layers (gemma3), nil if none
	PartialRotaryFactor float64 // fraction of head_dim rotated (1 when absent)

	SlidingWindow        int      // 0: none
	UseSlidingWindow     *bool    // qwen2-style switch, nil when absent
	LayerTypes           []string // "sliding_attention" / "full_attention" per layer, nil when absent
	SlidingWindowPattern int      // gemma3: every n-th layer is global

	QueryPreAttnScalar float64 // gemma: attention scale is its -1/2 power (0 when absent)
	AttnSoftcap        float64 // 0: none
	FinalSoftcap       float64 // 0: none

	EmbeddingMultiplier float64 // granite (0 when absent)
	AttentionMultiplier float64
	ResidualMultiplier  float64
	LogitsScaling       float64

	NumExperts                   int
	ExpertsPerToken              int
	MoEIntermediateSize          int
	SharedExpertIntermediateSize int
	NormTopKProb                 bool

	BOS []int
	EOS []int

	obj *object
}

// Float returns any other numeric field of config.json (def when absent).
func (c *Config) Float(key string, def float64) (float64, error) { return c.obj.float(key, def) }

// Load reads dir/config.json.
func Load(dir string) (*Config, error) {
	path := filepath.Join(dir, "config.json")
	o, err := readObject(path)
	if err != nil {
		return nil, fmt.Errorf("hfconfig: %w", err)
	}
	c, err := parse(o)
	if err != nil {
		return nil, fmt.Errorf("hfconfig: %w", err)
	}
	return c, nil
}

// Parse parses config.json content; file is used in errors.
func Parse(b []byte, file string) (*Config, error) {
	o, err := parseObject(b, file)
	if err != nil {
		return nil, fmt.Errorf("hfconfig: %w", err)
	}
	c, err := parse(o)
	if err != nil {
		return nil, fmt.Errorf("hfconfig: %w", err)
	}
	return c, nil
}

func parse(o *object) (*Config, error) {
	c := &Config{Path: o.file, obj: o}
	var err error
	// Collect the first error; every accessor returns a zero value on error.
	check := func(e error) {
		if err == nil && e != nil {
			err = e
		}
	}
	str := func(k string) string { s, e := o.str(k); check(e); return s }
	req := func(k string) int { n, e := o.requiredInt(k); check(e); return n }
	opt := func(k string, def int) int { n, e := o.int(k, def); check(e); return n }
	flt := func(k string, def float64) float64 { f, e := o.float(k, def); check(e); return f }
	bln := func(k string, def bool) bool { b, e := o.boolean(k, def); check(e); return b }

	c.ModelType = str("model_type")
	if c.ModelType == "" && err == nil {
		return nil, o.errorf("model_type", "missing (want the transformers model type, e.g. \"llama\")")
	}
	archs, e := o.strings("architectures")
	check(e)
	c.Architectures = archs
	c.VocabSize = req("vocab_size")
	c.HiddenSize = req("hidden_size")
	c.NumLayers = req("num_hidden_layers")
	c.NumHeads = req("num_attention_heads")
	c.NumKVHeads = opt("num_key_value_heads", c.NumHeads)
	c.IntermediateSize = opt("intermediate_size", 0)
	c.MaxPositions = opt("max_position_embeddings", 0)
	c.RMSNormEps = flt("rms_norm_eps", 1e-6)
	c.HiddenAct = str("hidden_act")
	if h := str("hidden_activation"); h != "" {
		c.HiddenAct = h // gemma's newer spelling wins
	}
	c.TieEmbeddings = bln("tie_word_embeddings", true)
	c.AttentionBias = bln("attention_bias", false)
	c.PartialRotaryFactor = flt("partial_rotary_factor", 1)
	c.SlidingWindow = opt("sliding_window", 0)
	if o.has("use_sliding_window") {
		b := bln("use_sliding_window", false)
		c.UseSlidingWindow = &b
	}
	lt, e := o.strings("layer_types")
	check(e)
	c.LayerTypes = lt
	c.SlidingWindowPattern = opt("sliding_window_pattern", 0)
	c.QueryPreAttnScalar = flt("query_pre_attn_scalar", 0)
	c.AttnSoftcap = flt("attn_logit_softcapping", 0)
	c.FinalSoftcap = flt("final_logit_softcapping", 0)
	c.EmbeddingMultiplier = flt("embedding_multiplier", 0)
	c.AttentionMultiplier = flt("attention_multiplier", 0)
	c.ResidualMultiplier = flt("residual_multiplier", 0)
	c.LogitsScaling = flt("logits_scaling", 0)
	c.NumExperts = opt("num_local_experts", 0)
	if n := opt("num_experts", 0); n > 0 {
		c.NumExperts = n
	}
	c.ExpertsPerToken = opt("num_experts_per_tok", 0)
	c.MoEIntermediateSize = opt("moe_intermediate_size", 0)
	c.SharedExpertIntermediateSize = opt("shared_expert_intermediate_size", 0)
	c.NormTopKProb = bln("norm_topk_prob", false)
	bos, e := o.ints("bos_token_id")
	check(e)
	eos, e := o.ints("eos_token_id")
	check(e)
	c.BOS, c.EOS = bos, eos
	if err != nil {
		return nil, err
	}
	c.HeadDim = opt("head_dim", 0)
	if err != nil {
		return nil, err
	}
	if c.HeadDim == 0 {
		if c.HiddenSize%c.NumHeads != 0 {
			return nil, o.errorf("head_dim", "missing, and hidden_size %d is not a multiple of num_attention_heads %d", c.HiddenSize, c.NumHeads)
		}
		c.HeadDim = c.HiddenSize / c.NumHeads
	}
	if err := c.parseRoPE(o); err != nil {
		return nil, err
	}
	if err := c.validate(o); err != nil {
		return nil, err
	}
	return c, nil
}

// validate rejects contradictory fields.
func (c *Config) validate(o *object) error {
	if c.NumKVHeads == 0 || c.NumKVHeads > c.NumHeads || c.NumHeads%c.NumKVHeads != 0 {
		return o.errorf("num_key_value_heads", "%d does not divide num_attention_heads %d", c.NumKVHeads, c.NumHeads)
	}
	if c.LayerTypes != nil && len(c.LayerTypes) != c.NumLayers {
		return o.errorf("layer_types", "has %d entries but num_hidden_layers is %d", len(c.LayerTypes), c.NumLayers)
	}
	for i, t := range c.LayerTypes {
		if t != "sliding_attention" && t != "full_attention" {
			return o.errorf("layer_types", "entry %d is %q, want \"sliding_attention\" or \"full_attention\"", i, t)
		}
	}
	if c.NumExperts > 0 {
		if c.ExpertsPerToken == 0 || c.ExpertsPerToken > c.NumExperts {
			return o.errorf("num_experts_per_tok", "%d, want 1..%d (the number of experts)", c.ExpertsPerToken, c.NumExperts)
		}
	} else if c.ExpertsPerToken > 0 {
		return o.errorf("num_experts_per_tok", "is %d but the model has no experts (num_experts / num_local_experts)", c.ExpertsPerToken)
	}
	if c.RMSNormEps <= 0 {
		return o.errorf("rms_norm_eps", "want a positive number, got %v", c.RMSNormEps)
	}
	if c.PartialRotaryFactor <= 0 || c.PartialRotaryFactor > 1 {
		return o.errorf("partial_rotary_factor", "want a number in (0, 1], got %v", c.PartialRotaryFactor)
	}
	if c.QueryPreAttnScalar < 0 {
		return o.errorf("query_pre_attn_scalar", "want a positive number, got %v", c.QueryPreAttnScalar)
	}
	return nil
}

// Generation is generation_config.json.
type Generation struct {
	BOS               []int
	EOS               []int
	Pad               []int
	Temperature       float64 // 0 when absent
	TopP              float64
	TopK              int
	RepetitionPenalty float64
	DoSample          bool
	MaxNewTokens      int
}

// LoadGeneration reads dir/generation_config.json; it returns nil and no
// error when the file does not exist.
func LoadGeneration(dir string) (*Generation, error) {
	path := filepath.Join(dir, "generation_config.json")
	o, err := readObject(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("hfconfig: %w", err)
	}
	g := &Generation{}
	var errs []error
	g.BOS, err = o.ints("bos_token_id")
	errs = append(errs, err)
	g.EOS, err = o.ints("eos_token_id")
	errs = append(errs, err)
	g.Pad, err = o.ints("pad_token_id")
	errs = append(errs, err)
	g.Temperature, err = o.float("temperature", 0)
	errs = append(errs, err)
	g.TopP, err = o.float("top_p", 0)
	errs = append(errs, err)
	g.TopK, err = o.int("top_k", 0)
	errs = append(errs, err)
	g.RepetitionPenalty, err = o.float("repetition_penalty", 0)
	errs = append(errs, err)
	g.DoSample, err = o.boolean("do_sample", false)
	errs = append(errs, err)
	g.MaxNewTokens, err = o.int("max_new_tokens", 0)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("hfconfig: %w", err)
	}
	return g, nil
}
