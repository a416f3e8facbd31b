package hfconfig

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
)

// object is a decoded JSON object with typed, checked accessors. Every
// accessor error names the file and the field.
type object struct {
	file string
	path string // prefix for nested objects, e.g. "rope_scaling."
	m    map[string]any
}

func readObject(path string) (*object, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseObject(b, path)
}

func parseObject(b []byte, file string) (*object, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: not a JSON object: %w", file, err)
	}
	if m == nil {
		return nil, fmt.Errorf("%s: not a JSON object", file)
	}
	return &object{file: file, m: m}, nil
}

func (o *object) errorf(key, format string, args ...any) error {
	return fmt.Errorf("%s: field %s%s: %s", o.file, o.path, key, fmt.Sprintf(format, args...))
}

// has reports whether key is present and not null.
func (o *object) has(key string) bool { return o.m[key] != nil }

func (o *object) number(key string) (float64, bool, error) {
	v, ok := o.m[key]
	if !ok || v == nil {
		return 0, false, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return 0, false, o.errorf(key, "want a number, got %s", describe(v))
	}
	f, err := n.Float64()
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false, o.errorf(key, "%s is not a finite number", n)
	}
	return f, true, nil
}

// float returns an optional number, def when absent or null.
func (o *object) float(key string, def float64) (float64, error) {
	f, ok, err := o.number(key)
	if err != nil || !ok {
		return def, err
	}
	return f, nil
}

// int returns an optional non-negative integer, def when absent or null.
func (o *object) int(key string, def int) (int, error) {
	f, ok, err := o.number(key)
	if err != nil || !ok {
		return def, err
	}
	if f != math.Trunc(f) || f < 0 || f > 1<<40 {
		return 0, o.errorf(key, "want a non-negative integer, got %v", f)
	}
	return int(f), nil
}

// requiredInt returns a positive integer that must be present.
func (o *object) requiredInt(key string) (int, error) {
	if !o.has(key) {
		return 0, o.errorf(key, "missing (want a positive integer)")
	}
	n, err := o.int(key, 0)
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, o.errorf(key, "want a positive integer, got 0")
	}
	return n, nil
}

func (o *object) str(key string) (string, error) {
	v, ok := o.m[key]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", o.errorf(key, "want a string, got %s", describe(v))
	}
	return s, nil
}

func (o *object) boolean(key string, def bool) (bool, error) {
	v, ok := o.m[key]
	if !ok || v == nil {
		return def, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, o.errorf(key, "want true or false, got %s", describe(v))
	}
	return b, nil
}

func (o *object) strings(key string) ([]string, error) {
	v, ok := o.m[key]
	if !ok || v == nil {
		return nil, nil
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, o.errorf(key, "want a list of strings, got %s", describe(v))
	}
	out := make([]string, len(arr))
	for i, e := range arr {
		s, ok := e.(string)
		if !ok {
			return nil, o.errorf(key, "element %d: want a string, got %s", i, describe(e))
		}
		out[i] = s
	}
	return out, nil
}

// ints reads an integer or a list of integers (as eos_token_id may be).
func (o *object) ints(key string) ([]int, error) {
	v, ok := o.m[key]
	if !ok || v == nil {
		return nil, nil
	}
	if _, ok := v.(json.Number); ok {
		n, err := o.int(key, 0)
		return []int{n}, err
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, o.errorf(key, "want an integer or a list of integers, got %s", describe(v))
	}
	out := make([]int, len(arr))
	for i, e := range arr {
		sub := &object{file: o.file, path: o.path, m: map[string]any{fmt.Sprintf("%s[%d]", key, i): e}}
		n, err := sub.int(fmt.Sprintf("%s[%d]", key, i), 0)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

// child returns a nested object, or nil when absent or null.
func (o *object) child(key string) (*object, error) {
	v, ok := o.m[key]
	if !ok || v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, o.errorf(key, "want an object, got %s", describe(v))
	}
	return &object{file: o.file, path: o.path + key + ".", m: m}, nil
}

func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("the string %q", x)
	case json.Number:
		return "the number " + x.String()
	case bool:
		return fmt.Sprintf("%v", x)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
