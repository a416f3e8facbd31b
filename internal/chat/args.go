package chat

import (
	"math"
	"strings"
)

// bindArgs binds positional and keyword arguments to params the way Python
// binds a def's parameters; the first nreq params are required. Unbound
// optional parameters are nil in the result.
func bindArgs(fname string, params []string, nreq int, args []Value, kw []kwarg) ([]Value, error) {
	if len(args) > len(params) {
		if nreq == len(params) {
			return nil, typeErr("%s() takes %d positional argument%s but %d %s given", fname, len(params), plural(len(params)), len(args), wereWas(len(args)))
		}
		return nil, typeErr("%s() takes from %d to %d positional arguments but %d %s given", fname, nreq, len(params), len(args), wereWas(len(args)))
	}
	out := make([]Value, len(params))
	copy(out, args)
	for _, k := range kw {
		idx := -1
		for i, p := range params {
			if p == k.name {
				idx = i
				break
			}
		}
		if idx < 0 {
			return nil, typeErr("%s() got an unexpected keyword argument %s", fname, repr(Str(k.name)))
		}
		if out[idx] != nil {
			return nil, typeErr("%s() got multiple values for argument %s", fname, repr(Str(k.name)))
		}
		out[idx] = k.val
	}
	var missing []string
	for i := 0; i < nreq; i++ {
		if out[i] == nil {
			missing = append(missing, repr(Str(params[i])))
		}
	}
	if len(missing) > 0 {
		list := strings.Join(missing, ", ")
		if len(missing) > 1 {
			list = strings.Join(missing[:len(missing)-1], ", ") + " and " + missing[len(missing)-1]
		}
		return nil, typeErr("%s() missing %d required positional argument%s: %s", fname, len(missing), plural(len(missing)), list)
	}
	return out, nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func wereWas(n int) string {
	if n == 1 {
		return "was"
	}
	return "were"
}

// noKwargs fails if keyword arguments were passed to a builtin that takes
// none.
func noKwargs(fname string, kw []kwarg) error {
	if len(kw) > 0 {
		return typeErr("%s() takes no keyword arguments", fname)
	}
	return nil
}

// argCount checks the number of positional arguments of a builtin method.
func argCount(fname string, args []Value, min, max int) error {
	if len(args) < min || len(args) > max {
		switch {
		case min == max && min == 0:
			return typeErr("%s() takes no arguments (%d given)", fname, len(args))
		case min == max:
			return typeErr("%s() takes exactly %d argument%s (%d given)", fname, min, plural(min), len(args))
		case len(args) < min:
			return typeErr("%s() takes at least %d argument%s (%d given)", fname, min, plural(min), len(args))
		}
		return typeErr("%s() takes at most %d argument%s (%d given)", fname, max, plural(max), len(args))
	}
	return nil
}

// toInt converts an argument that Python would accept as an index.
func toInt(v Value, what string) (int, error) {
	n := asNum(v)
	switch n.k {
	case kInt:
		if n.i > math.MaxInt32 {
			return math.MaxInt32, nil
		}
		if n.i < math.MinInt32 {
			return math.MinInt32, nil
		}
		return int(n.i), nil
	case kBig:
		if n.b.Sign() < 0 {
			return math.MinInt32, nil
		}
		return math.MaxInt32, nil
	}
	if u, ok := v.(*Undefined); ok {
		return 0, u.err()
	}
	_ = what
	return 0, typeErr("'%s' object cannot be interpreted as an integer", v.pyType())
}

// toStr converts an argument that must be a str.
func toStr(v Value, fname string) (string, error) {
	if s, ok := isString(v); ok {
		return s, nil
	}
	if u, ok := v.(*Undefined); ok {
		return "", u.err()
	}
	return "", typeErr("%s() argument must be str, not %s", fname, v.pyType())
}

// isNone reports whether v is None (or a missing optional argument).
func isNone(v Value) bool {
	if v == nil {
		return true
	}
	_, ok := v.(NoneType)
	return ok
}
