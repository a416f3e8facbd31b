package tokenizer

import (
	"fmt"
	"math"
)

// obj is a decoded JSON object with its path, for reading fields with
// errors that name the file, the field and what was expected.
type obj struct {
	m    map[string]any
	path string // e.g. "normalizer.normalizers[1]"
	file string
}

func (o obj) errorf(key, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %s", o.file, o.field(key), fmt.Sprintf(format, args...))
}

func (o obj) field(key string) string {
	if o.path == "" {
		return key
	}
	return o.path + "." + key
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a bool"
	case int64, float64:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// child returns the object under key; present is false when the key is
// missing or null.
func (o obj) child(key string) (obj, bool, error) {
	v, ok := o.m[key]
	if !ok || v == nil {
		return obj{}, false, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return obj{}, false, o.errorf(key, "want an object, found %s", typeName(v))
	}
	return obj{m: m, path: o.field(key), file: o.file}, true, nil
}

// elem wraps an array element that must be an object.
func (o obj) elem(key string, i int, v any) (obj, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return obj{}, o.errorf(fmt.Sprintf("%s[%d]", key, i), "want an object, found %s", typeName(v))
	}
	return obj{m: m, path: fmt.Sprintf("%s[%d]", o.field(key), i), file: o.file}, nil
}

func (o obj) list(key string) ([]any, error) {
	v, ok := o.m[key]
	if !ok {
		return nil, o.errorf(key, "missing (want an array)")
	}
	a, ok := v.([]any)
	if !ok && v != nil {
		return nil, o.errorf(key, "want an array, found %s", typeName(v))
	}
	return a, nil
}

func (o obj) str(key string) (string, error) {
	v, ok := o.m[key]
	if !ok {
		return "", o.errorf(key, "missing (want a string)")
	}
	s, ok := v.(string)
	if !ok {
		return "", o.errorf(key, "want a string, found %s", typeName(v))
	}
	return s, nil
}

// optStr returns a string field, def when missing or null.
func (o obj) optStr(key, def string) (string, error) {
	v, ok := o.m[key]
	if !ok || v == nil {
		return def, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", o.errorf(key, "want a string, found %s", typeName(v))
	}
	return s, nil
}

func (o obj) optBool(key string, def bool) (bool, error) {
	v, ok := o.m[key]
	if !ok || v == nil {
		return def, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, o.errorf(key, "want a bool, found %s", typeName(v))
	}
	return b, nil
}

func (o obj) optInt(key string, def int64) (int64, error) {
	v, ok := o.m[key]
	if !ok || v == nil {
		return def, nil
	}
	return o.asInt(key, v)
}

func (o obj) asInt(key string, v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x), nil
		}
	}
	return 0, o.errorf(key, "want an integer, found %s", typeName(v))
}

// tokenID converts a JSON number to a token id in [0, limit).
func (o obj) tokenID(key string, v any, limit int) (int32, error) {
	x, err := o.asInt(key, v)
	if err != nil {
		return 0, err
	}
	if x < 0 || x >= int64(limit) {
		return 0, o.errorf(key, "token id %d out of range [0, %d)", x, limit)
	}
	return int32(x), nil
}
