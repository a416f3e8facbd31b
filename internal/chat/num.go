package chat

import (
	"math"
	"math/big"
	"strconv"
	"strings"
)

// maxIntBits bounds the size of ints a template can build (2 ** huge would
// otherwise exhaust memory); Python has no such limit, memfit does.
const maxIntBits = 1 << 16

// parseBigDigits parses unsigned digits in base (2..36) as
// big.Int.SetString does, except that it refuses (tooLarge) a number with
// more significant digits than an int of maxIntBits bits can have before
// parsing it: SetString takes quadratic time, and a million-digit literal
// would otherwise stall for minutes.
func parseBigDigits(digits string, base int) (bi *big.Int, ok, tooLarge bool) {
	if strings.ContainsAny(digits, "+-") { // SetString would take a sign
		return nil, false, false
	}
	sig := digits
	for len(sig) > 1 && sig[0] == '0' {
		sig = sig[1:]
	}
	if len(sig) > int(float64(maxIntBits)/math.Log2(float64(base)))+2 {
		return nil, false, true
	}
	bi, ok = new(big.Int).SetString(sig, base)
	if ok && bi.BitLen() > maxIntBits {
		return nil, false, true
	}
	return bi, ok, false
}

// numKind classifies a numeric value.
type numKind uint8

const (
	notNum numKind = iota
	kInt           // Int or Bool
	kBig           // *BigInt
	kFloat         // Float
)

// num is a decoded numeric operand.
type num struct {
	k numKind
	i int64
	b *big.Int
	f float64
}

// asNum decodes v as a number (bool counts as int, as in Python).
func asNum(v Value) num {
	switch x := v.(type) {
	case Int:
		return num{k: kInt, i: int64(x)}
	case Bool:
		if x {
			return num{k: kInt, i: 1}
		}
		return num{k: kInt}
	case *BigInt:
		return num{k: kBig, b: x.v}
	case Float:
		return num{k: kFloat, f: float64(x)}
	}
	return num{}
}

// big returns n (an int) as a big.Int.
func (n num) big() *big.Int {
	if n.k == kBig {
		return n.b
	}
	return big.NewInt(n.i)
}

// float returns n as a float64, or an OverflowError for a huge int.
func (n num) float() (float64, error) {
	switch n.k {
	case kFloat:
		return n.f, nil
	case kInt:
		return float64(n.i), nil
	}
	f, acc := new(big.Float).SetInt(n.b).Float64()
	if math.IsInf(f, 0) || (acc != big.Exact && math.IsInf(f, 0)) {
		return 0, newErr(errOverflow, "int too large to convert to float")
	}
	return f, nil
}

// bigResult normalises a big.Int result, enforcing maxIntBits.
func bigResult(b *big.Int) (Value, error) {
	if b.IsInt64() {
		return Int(b.Int64()), nil
	}
	if b.BitLen() > maxIntBits {
		return nil, newErr(errLimit, "integer result exceeds %d bits", maxIntBits)
	}
	return &BigInt{v: b}, nil
}

// floatToBig converts an integral float to a big.Int.
func floatToBig(f float64) (*big.Int, bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, false
	}
	bf := big.NewFloat(f)
	bi, _ := bf.Int(nil)
	return bi, true
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

// arith applies a numeric binary operator; ok is false when the operands are
// not both numbers.
func arith(op string, a, b Value) (Value, bool, error) {
	x, y := asNum(a), asNum(b)
	if x.k == notNum || y.k == notNum {
		return nil, false, nil
	}
	if x.k == kFloat || y.k == kFloat {
		fx, err := x.float()
		if err != nil {
			return nil, true, err
		}
		fy, err := y.float()
		if err != nil {
			return nil, true, err
		}
		v, err := floatOp(op, fx, fy)
		return v, true, err
	}
	v, err := intOp(op, x, y)
	return v, true, err
}

// floatOp is a float binary operator with Python semantics.
func floatOp(op string, x, y float64) (Value, error) {
	switch op {
	case "+":
		return Float(x + y), nil
	case "-":
		return Float(x - y), nil
	case "*":
		return Float(x * y), nil
	case "/":
		if y == 0 {
			return nil, newErr(errZeroDiv, "float division by zero")
		}
		return Float(x / y), nil
	case "//":
		if y == 0 {
			return nil, newErr(errZeroDiv, "float floor division by zero")
		}
		d, _ := floatDivmod(x, y)
		return Float(d), nil
	case "%":
		if y == 0 {
			return nil, newErr(errZeroDiv, "float modulo")
		}
		_, m := floatDivmod(x, y)
		return Float(m), nil
	case "**":
		if x == 0 && y < 0 {
			return nil, newErr(errZeroDiv, "0.0 cannot be raised to a negative power")
		}
		if x < 0 && y != math.Trunc(y) && !math.IsInf(y, 0) {
			return nil, newErr(errValue, "complex results are not supported")
		}
		r := math.Pow(x, y)
		if math.IsInf(r, 0) && !math.IsInf(x, 0) && !math.IsInf(y, 0) {
			return nil, newErr(errOverflow, "(34, 'Numerical result out of range')")
		}
		return Float(r), nil
	}
	return nil, typeErr("bad operator %s", op)
}

// floatDivmod is CPython's float_divmod.
func floatDivmod(vx, wx float64) (float64, float64) {
	mod := math.Mod(vx, wx)
	div := (vx - mod) / wx
	if mod != 0 {
		if (wx < 0) != (mod < 0) {
			mod += wx
			div -= 1.0
		}
	} else {
		mod = math.Copysign(0, wx)
	}
	var floordiv float64
	if div != 0 {
		floordiv = math.Floor(div)
		if div-floordiv > 0.5 {
			floordiv += 1.0
		}
	} else {
		floordiv = math.Copysign(0, vx/wx)
	}
	return floordiv, mod
}

// intOp is an int binary operator with Python semantics.
func intOp(op string, x, y num) (Value, error) {
	if x.k == kInt && y.k == kInt {
		a, b := x.i, y.i
		switch op {
		case "+":
			if s := a + b; (s > a) == (b > 0) {
				return Int(s), nil
			}
		case "-":
			if s := a - b; (s < a) == (b > 0) {
				return Int(s), nil
			}
		case "*":
			if a == 0 || b == 0 {
				return Int(0), nil
			}
			if p := a * b; p/b == a && !(a == -1 && b == math.MinInt64) && !(b == -1 && a == math.MinInt64) {
				return Int(p), nil
			}
		case "//":
			if b == 0 {
				return nil, newErr(errZeroDiv, "integer division or modulo by zero")
			}
			if !(a == math.MinInt64 && b == -1) {
				q := a / b
				if (a%b != 0) && ((a < 0) != (b < 0)) {
					q--
				}
				return Int(q), nil
			}
		case "%":
			if b == 0 {
				return nil, newErr(errZeroDiv, "integer modulo by zero")
			}
			if b == -1 {
				return Int(0), nil
			}
			m := a % b
			if m != 0 && ((m < 0) != (b < 0)) {
				m += b
			}
			return Int(m), nil
		}
	}
	a, b := x.big(), y.big()
	switch op {
	case "+":
		return bigResult(new(big.Int).Add(a, b))
	case "-":
		return bigResult(new(big.Int).Sub(a, b))
	case "*":
		if a.BitLen()+b.BitLen() > maxIntBits+1 {
			return nil, newErr(errLimit, "integer result exceeds %d bits", maxIntBits)
		}
		return bigResult(new(big.Int).Mul(a, b))
	case "//", "%":
		if b.Sign() == 0 {
			if op == "%" {
				return nil, newErr(errZeroDiv, "integer modulo by zero")
			}
			return nil, newErr(errZeroDiv, "integer division or modulo by zero")
		}
		q, m := new(big.Int).DivMod(a, b, new(big.Int)) // Euclidean: m >= 0
		if m.Sign() != 0 && b.Sign() < 0 {
			// convert Euclidean to floor semantics for a negative divisor
			m.Add(m, b)
			q.Sub(q, big.NewInt(1))
		}
		if op == "//" {
			return bigResult(q)
		}
		return bigResult(m)
	case "/":
		if b.Sign() == 0 {
			return nil, newErr(errZeroDiv, "division by zero")
		}
		if x.k == kInt && y.k == kInt && abs64(x.i) < 1<<53 && abs64(y.i) < 1<<53 {
			return Float(float64(x.i) / float64(y.i)), nil
		}
		f, _ := new(big.Rat).SetFrac(a, b).Float64()
		if math.IsInf(f, 0) {
			return nil, newErr(errOverflow, "integer division result too large for a float")
		}
		return Float(f), nil
	case "**":
		if b.Sign() < 0 {
			fa, err := x.float()
			if err != nil {
				return nil, err
			}
			fb, err := y.float()
			if err != nil {
				return nil, err
			}
			if fa == 0 {
				return nil, newErr(errZeroDiv, "0.0 cannot be raised to a negative power")
			}
			return Float(math.Pow(fa, fb)), nil
		}
		if a.Sign() == 0 || a.CmpAbs(big.NewInt(1)) == 0 {
			return bigResult(new(big.Int).Exp(a, b, nil))
		}
		if !b.IsInt64() || int64(a.BitLen()-1)*b.Int64() > maxIntBits {
			return nil, newErr(errLimit, "integer result exceeds %d bits", maxIntBits)
		}
		return bigResult(new(big.Int).Exp(a, b, nil))
	}
	return nil, typeErr("bad operator %s", op)
}

func abs64(i int64) int64 {
	if i < 0 {
		return -i
	}
	return i
}

// numCompare compares two numbers: -1, 0, 1 (NaN compares as unordered: 2).
func numCompare(x, y num) int {
	if x.k == kInt && y.k == kInt {
		switch {
		case x.i < y.i:
			return -1
		case x.i > y.i:
			return 1
		}
		return 0
	}
	if x.k == kFloat || y.k == kFloat {
		if x.k == kFloat && y.k == kFloat {
			return cmpFloat(x.f, y.f)
		}
		// int vs float: compare exactly.
		var f float64
		var iv num
		sign := 1
		if x.k == kFloat {
			f, iv = x.f, y
		} else {
			f, iv, sign = y.f, x, -1
		}
		if math.IsNaN(f) {
			return 2
		}
		if math.IsInf(f, 1) {
			return -sign
		}
		if math.IsInf(f, -1) {
			return sign
		}
		bf := new(big.Float).SetFloat64(f)
		bi := new(big.Float).SetInt(iv.big())
		return sign * bf.Cmp(bi)
	}
	return x.big().Cmp(y.big())
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	case a == b:
		return 0
	}
	return 2
}

// negate is unary minus.
func negate(v Value) (Value, error) {
	n := asNum(v)
	switch n.k {
	case kInt:
		if n.i == math.MinInt64 {
			return bigResult(new(big.Int).Neg(n.big()))
		}
		return Int(-n.i), nil
	case kBig:
		return bigResult(new(big.Int).Neg(n.b))
	case kFloat:
		return Float(-n.f), nil
	}
	if u, ok := v.(*Undefined); ok {
		return nil, u.err()
	}
	return nil, typeErr("bad operand type for unary -: '%s'", v.pyType())
}

// positive is unary plus.
func positive(v Value) (Value, error) {
	n := asNum(v)
	switch n.k {
	case kInt:
		return Int(n.i), nil
	case kBig, kFloat:
		return v, nil
	}
	if u, ok := v.(*Undefined); ok {
		return nil, u.err()
	}
	return nil, typeErr("bad operand type for unary +: '%s'", v.pyType())
}
