package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// maxJSONDepth bounds the nesting of decoded JSON.
const maxJSONDepth = 512

// ParseJSON decodes one JSON value the way Python's json.loads does:
// objects become *Dict keeping key order (a repeated key keeps its first
// position and last value), integers become Int (or *BigInt), numbers with a
// fraction or exponent become Float, null becomes None.
func ParseJSON(data []byte) (Value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("json: unexpected data after the top-level value")
	}
	return v, nil
}

// DecodeJSON decodes the next JSON value from dec (which should have
// UseNumber set) into a template value, keeping object key order.
func DecodeJSON(dec *json.Decoder) (Value, error) { return decodeValue(dec, 0) }

func decodeValue(dec *json.Decoder, depth int) (Value, error) {
	if depth > maxJSONDepth {
		return nil, errors.New("json: nesting too deep")
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case nil:
		return None, nil
	case bool:
		return Bool(t), nil
	case string:
		return Str(t), nil
	case json.Number:
		return parseJSONNumber(string(t))
	case float64:
		return Float(t), nil
	case json.Delim:
		switch t {
		case '[':
			list := List{}
			for dec.More() {
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				list = append(list, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return list, nil
		case '{':
			d := NewDict()
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, ok := kt.(string)
				if !ok {
					return nil, fmt.Errorf("json: object key is %T, want string", kt)
				}
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				d.SetStr(k, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return d, nil
		}
	}
	return nil, fmt.Errorf("json: unexpected token %v", tok)
}

// parseJSONNumber keeps Python's int/float distinction.
func parseJSONNumber(s string) (Value, error) {
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return Int(i), nil
		}
		neg := strings.HasPrefix(s, "-")
		bi, ok, tooLarge := parseBigDigits(strings.TrimPrefix(s, "-"), 10)
		if tooLarge {
			return nil, fmt.Errorf("json: integer of %d digits too large", len(s))
		}
		if !ok {
			return nil, fmt.Errorf("json: bad number %q", s)
		}
		if neg {
			bi.Neg(bi)
		}
		return NewBigInt(bi), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !isRangeErr(err) {
		return nil, fmt.Errorf("json: bad number %q", s)
	}
	return Float(f), nil
}

// FromGo converts plain Go values (nil, bool, ints, floats, string,
// []any, map[string]any with sorted keys, json.Number, Value) to a template
// value.
func FromGo(x any) (Value, error) {
	switch v := x.(type) {
	case nil:
		return None, nil
	case Value:
		return v, nil
	case bool:
		return Bool(v), nil
	case int:
		return Int(v), nil
	case int64:
		return Int(v), nil
	case float64:
		return Float(v), nil
	case string:
		return Str(v), nil
	case json.Number:
		return parseJSONNumber(string(v))
	case []any:
		out := make(List, len(v))
		for i, e := range v {
			ev, err := FromGo(e)
			if err != nil {
				return nil, err
			}
			out[i] = ev
		}
		return out, nil
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		d := NewDict()
		for _, k := range keys {
			ev, err := FromGo(v[k])
			if err != nil {
				return nil, err
			}
			d.SetStr(k, ev)
		}
		return d, nil
	}
	return nil, fmt.Errorf("chat: cannot convert %T to a template value", x)
}

// jsonOpts are the arguments of transformers' tojson filter.
type jsonOpts struct {
	ensureASCII bool
	indent      string
	hasIndent   bool
	itemSep     string
	keySep      string
	sortKeys    bool
}

// toJSON is json.dumps(v, ...).
func (r *renderer) toJSON(v Value, o jsonOpts) (string, error) {
	var b strings.Builder
	if err := r.writeJSON(&b, v, o, 0); err != nil {
		return "", err
	}
	return b.String(), nil
}

func (r *renderer) writeJSON(b *strings.Builder, v Value, o jsonOpts, level int) error {
	if level > maxJSONDepth {
		return newErr(errValue, "Circular reference detected")
	}
	if b.Len() > r.lim.MaxOutput {
		return newErr(errLimit, "tojson output exceeds %d bytes", r.lim.MaxOutput)
	}
	switch x := v.(type) {
	case NoneType:
		b.WriteString("null")
	case Bool:
		if x {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case Int, *BigInt:
		b.WriteString(str(x))
	case Float:
		b.WriteString(jsonFloat(float64(x)))
	case Str:
		writeJSONString(b, string(x), o.ensureASCII)
	case Markup:
		writeJSONString(b, string(x), o.ensureASCII)
	case List:
		return r.writeJSONArray(b, x, o, level)
	case Tuple:
		return r.writeJSONArray(b, x, o, level)
	case *Dict:
		return r.writeJSONObject(b, x, o, level)
	default:
		return typeErr("Object of type %s is not JSON serializable", v.pyType())
	}
	return nil
}

func jsonFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return floatRepr(f)
}

func (o jsonOpts) newline(b *strings.Builder, level int) {
	b.WriteByte('\n')
	for i := 0; i < level; i++ {
		b.WriteString(o.indent)
	}
}

func (r *renderer) writeJSONArray(b *strings.Builder, items []Value, o jsonOpts, level int) error {
	if len(items) == 0 {
		b.WriteString("[]")
		return nil
	}
	b.WriteByte('[')
	for i, it := range items {
		if i > 0 {
			b.WriteString(o.itemSep)
		}
		if o.hasIndent {
			o.newline(b, level+1)
		}
		if err := r.writeJSON(b, it, o, level+1); err != nil {
			return err
		}
	}
	if o.hasIndent {
		o.newline(b, level)
	}
	b.WriteByte(']')
	return nil
}

// jsonKey converts a dict key the way json.dumps does.
func jsonKey(k Value) (string, error) {
	switch x := k.(type) {
	case Str:
		return string(x), nil
	case Markup:
		return string(x), nil
	case Int, *BigInt:
		return str(x), nil
	case Float:
		return jsonFloat(float64(x)), nil
	case Bool:
		if x {
			return "true", nil
		}
		return "false", nil
	case NoneType:
		return "null", nil
	}
	return "", typeErr("keys must be str, int, float, bool or None, not %s", k.pyType())
}

func (r *renderer) writeJSONObject(b *strings.Builder, d *Dict, o jsonOpts, level int) error {
	if d.Len() == 0 {
		b.WriteString("{}")
		return nil
	}
	order := make([]int, d.Len())
	for i := range order {
		order[i] = i
	}
	if o.sortKeys {
		var sortErr error
		sort.SliceStable(order, func(i, j int) bool {
			c, err := order2(d.keys[order[i]], d.keys[order[j]])
			if err != nil && sortErr == nil {
				sortErr = err
			}
			return c < 0
		})
		if sortErr != nil {
			return sortErr
		}
	}
	b.WriteByte('{')
	for n, i := range order {
		key, err := jsonKey(d.keys[i])
		if err != nil {
			return err
		}
		if n > 0 {
			b.WriteString(o.itemSep)
		}
		if o.hasIndent {
			o.newline(b, level+1)
		}
		writeJSONString(b, key, o.ensureASCII)
		b.WriteString(o.keySep)
		if err := r.writeJSON(b, d.vals[i], o, level+1); err != nil {
			return err
		}
	}
	if o.hasIndent {
		o.newline(b, level)
	}
	b.WriteByte('}')
	return nil
}

// order2 compares two values for sorting with Python's <.
func order2(a, b Value) (int, error) {
	c, err := order("lt", a, b)
	if err != nil {
		return 0, err
	}
	if c == 2 {
		return 0, nil
	}
	return c, nil
}

// writeJSONString writes a JSON string literal the way json.dumps does.
func writeJSONString(b *strings.Builder, s string, ensureASCII bool) {
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch c {
			case '"':
				b.WriteString(`\"`)
			case '\\':
				b.WriteString(`\\`)
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			case '\t':
				b.WriteString(`\t`)
			case '\b':
				b.WriteString(`\b`)
			case '\f':
				b.WriteString(`\f`)
			default:
				if c < 0x20 || (ensureASCII && c == 0x7f) {
					fmt.Fprintf(b, `\u%04x`, c)
				} else {
					b.WriteByte(c)
				}
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if ensureASCII {
			if r > 0xffff {
				r1, r2 := utf16.EncodeRune(r)
				fmt.Fprintf(b, `\u%04x\u%04x`, r1, r2)
			} else {
				fmt.Fprintf(b, `\u%04x`, r)
			}
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	b.WriteByte('"')
}
