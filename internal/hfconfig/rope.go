package hfconfig

// parseRoPE reads the RoPE settings in either spelling:
//
//   - transformers 5: "rope_parameters": {"rope_type", "rope_theta", "factor", ...},
//     or per attention kind {"full_attention": {...}, "sliding_attention": {...}};
//   - older checkpoints: top-level "rope_theta" and "rope_scaling" {"rope_type"
//     or "type", "factor", ...}, and gemma3's "rope_local_base_freq".
//
// A checkpoint that gives both spellings must agree.
func (c *Config) parseRoPE(o *object) error {
	params, err := o.child("rope_parameters")
	if err != nil {
		return err
	}
	legacyTheta, hasLegacyTheta, err := o.number("rope_theta")
	if err != nil {
		return err
	}
	if params != nil {
		full, err := params.child("full_attention")
		if err != nil {
			return err
		}
		if full != nil {
			if c.RoPE, err = ropeFrom(full, 10000); err != nil {
				return err
			}
			local, err := params.child("sliding_attention")
			if err != nil {
				return err
			}
			if local != nil {
				r, err := ropeFrom(local, 10000)
				if err != nil {
					return err
				}
				c.RoPELocal = &r
			}
		} else if c.RoPE, err = ropeFrom(params, 10000); err != nil {
			return err
		}
		if hasLegacyTheta && legacyTheta != c.RoPE.Theta {
			return o.errorf("rope_theta", "%v contradicts rope_parameters.rope_theta %v", legacyTheta, c.RoPE.Theta)
		}
		return nil
	}
	theta := 10000.0
	if hasLegacyTheta {
		theta = legacyTheta
	}
	if theta <= 0 {
		return o.errorf("rope_theta", "want a positive number, got %v", theta)
	}
	scaling, err := o.child("rope_scaling")
	if err != nil {
		return err
	}
	if scaling != nil {
		if c.RoPE, err = ropeFrom(scaling, theta); err != nil {
			return err
		}
		if scaling.has("rope_theta") && c.RoPE.Theta != theta {
			return o.errorf("rope_theta", "%v contradicts rope_scaling.rope_theta %v", theta, c.RoPE.Theta)
		}
	} else {
		c.RoPE = RoPE{Type: "default", Theta: theta, Factor: 1}
	}
	if o.has("rope_local_base_freq") {
		lt, err := o.float("rope_local_base_freq", 0)
		if err != nil {
			return err
		}
		c.RoPELocal = &RoPE{Type: "default", Theta: lt, Factor: 1}
	}
	return nil
}

// ropeFrom reads one RoPE parameter object; theta is the base when the
// object does not give rope_theta.
func ropeFrom(p *object, theta float64) (RoPE, error) {
	r := RoPE{Factor: 1}
	var err error
	if r.Type, err = p.str("rope_type"); err != nil {
		return r, err
	}
	if r.Type == "" {
		if r.Type, err = p.str("type"); err != nil {
			return r, err
		}
	}
	if r.Type == "" {
		r.Type = "default"
	}
	if r.Theta, err = p.float("rope_theta", theta); err != nil {
		return r, err
	}
	if r.Theta <= 0 {
		return r, p.errorf("rope_theta", "want a positive number, got %v", r.Theta)
	}
	switch r.Type {
	case "default":
	case "linear":
		if r.Factor, err = p.float("factor", 0); err != nil {
			return r, err
		}
		if r.Factor <= 0 {
			return r, p.errorf("factor", "missing or not positive for rope_type %q", r.Type)
		}
	case "llama3":
		if r.Factor, err = p.float("factor", 0); err != nil {
			return r, err
		}
		if r.LowFreqFactor, err = p.float("low_freq_factor", 0); err != nil {
			return r, err
		}
		if r.HighFreqFactor, err = p.float("high_freq_factor", 0); err != nil {
			return r, err
		}
		if r.OriginalMaxPositions, err = p.int("original_max_position_embeddings", 0); err != nil {
			return r, err
		}
		switch {
		case r.Factor <= 0:
			return r, p.errorf("factor", "missing or not positive for rope_type llama3")
		case r.LowFreqFactor <= 0 || r.HighFreqFactor <= r.LowFreqFactor:
			return r, p.errorf("high_freq_factor", "llama3 rope needs 0 < low_freq_factor (%v) < high_freq_factor (%v)", r.LowFreqFactor, r.HighFreqFactor)
		case r.OriginalMaxPositions == 0:
			return r, p.errorf("original_max_position_embeddings", "missing for rope_type llama3")
		}
	default:
		return r, p.errorf("rope_type", "%q is not supported (want default, linear or llama3)", r.Type)
	}
	return r, nil
}
