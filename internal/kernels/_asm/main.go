// Command _asm generates memfit's AVX2/FMA/F16C kernels with avo. Run
// `go generate ./internal/kernels`; the generated files are committed. The
// -set flag picks the kernels: "float" (F32/F16/BF16 weights and attention,
// dot_amd64.s) or "quant" (block-quantized weights, quant_amd64.s).
package main

import (
	"flag"
	"fmt"
	"os"
	"regexp"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// weightKind is how weights are stored.
type weightKind struct {
	name  string
	bytes int // bytes per value
}

var kinds = []weightKind{{"F32", 4}, {"F16", 2}, {"BF16", 2}}

func main() {
	set := flag.String("set", "float", "kernels to generate: float or quant")
	flag.Parse()
	ConstraintExpr("amd64,!purego")
	switch *set {
	case "float":
		for _, k := range kinds {
			for m := 1; m <= 3; m++ {
				dotRxM(k, 4, m)
			}
			dotRxM(k, 8, 1)
			if k.name != "BF16" {
				axpy4(k)
			}
		}
	case "quant":
		quantKernels()
	default:
		fmt.Fprintf(os.Stderr, "unknown -set %q\n", *set)
		os.Exit(2)
	}
	Generate()
	checkAVX2Only()
}

// checkAVX2Only fails when the register allocator used X16–X31/Y16–Y31,
// which need AVX-512 (EVEX) encodings: these kernels must run on any AVX2
// CPU.
func checkAVX2Only() {
	out := flag.Lookup("out").Value.String()
	b, err := os.ReadFile(out)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if m := regexp.MustCompile(`\b[XYZ](1[6-9]|2[0-9]|3[01])\b|\bZ[0-9]+\b`).Find(b); m != nil {
		fmt.Fprintf(os.Stderr, "%s uses %s: register pressure too high for AVX2\n", out, m)
		os.Exit(1)
	}
}

// load puts 8 weights of kind k at m into y as float32.
func load(k weightKind, m Mem, y VecVirtual) {
	switch k.name {
	case "F32":
		VMOVUPS(m, y)
	case "F16":
		VCVTPH2PS(m, y)
	case "BF16":
		VPMOVZXWD(m, y)
		VPSLLD(Imm(16), y, y)
	}
}

// dotRxM generates dot<R>x<M><K>AVX2(w0, ..., w<R-1> *byte, x *float32,
// ldx, n int, out *[R·M]float32): out[t·R + r] = Σ_{i<n} w_r[i]·x[t·ldx + i]
// for R weight rows (a multiple of 4) and M tokens, n a multiple of 8. Each
// weight vector is loaded (and converted) once for all M tokens. Every
// (row, token) pair has one accumulator, and the horizontal sum of a row's
// accumulator involves only that row, so a result is the same for every R
// and M: neither batching nor row blocking changes the numbers.
func dotRxM(k weightKind, R, M int) {
	name := fmt.Sprintf("dot%dx%d%sAVX2", R, M, k.name)
	params := ""
	for r := 0; r < R; r++ {
		params += fmt.Sprintf("w%d, ", r)
	}
	TEXT(name, NOSPLIT, fmt.Sprintf("func(%s*byte, x *float32, ldx, n int, out *[%d]float32)", params[:len(params)-2]+" ", R*M))
	Pragma("noescape")
	Doc(fmt.Sprintf("%s computes the dot products of %d %s weight rows with %d tokens of x (ldx values apart) over n values (a multiple of 8).", name, R, k.name, M))
	w := make([]Register, R)
	for r := range w {
		w[r] = Load(Param(fmt.Sprintf("w%d", r)), GP64())
	}
	x0 := Load(Param("x"), GP64())
	ldx := Load(Param("ldx"), GP64())
	SHLQ(Imm(2), ldx)
	xs := []Register{x0}
	for t := 1; t < M; t++ {
		xt := GP64()
		MOVQ(xs[t-1], xt)
		ADDQ(ldx, xt)
		xs = append(xs, xt)
	}
	n := Load(Param("n"), GP64())
	acc := make([]VecVirtual, R*M) // acc[r*M + t]
	for i := range acc {
		acc[i] = YMM()
		VXORPS(acc[i], acc[i], acc[i])
	}
	i := GP64()
	XORQ(i, i)
	Label(name + "_loop")
	CMPQ(i, n)
	JGE(LabelRef(name + "_done"))
	xv := make([]VecVirtual, M)
	for t := range xv {
		xv[t] = YMM()
		VMOVUPS(Mem{Base: xs[t], Index: i, Scale: 4}, xv[t])
	}
	for r := 0; r < R; r++ {
		wv := YMM()
		load(k, Mem{Base: w[r], Index: i, Scale: uint8(k.bytes)}, wv)
		for t := 0; t < M; t++ {
			VFMADD231PS(wv, xv[t], acc[r*M+t])
		}
	}
	ADDQ(Imm(8), i)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_done")
	out := Load(Param("out"), GP64())
	for t := 0; t < M; t++ {
		for g := 0; g < R; g += 4 {
			a0, a1, a2, a3 := acc[(g+0)*M+t], acc[(g+1)*M+t], acc[(g+2)*M+t], acc[(g+3)*M+t]
			VHADDPS(a1, a0, a0)
			VHADDPS(a3, a2, a2)
			VHADDPS(a2, a0, a0)
			hi := XMM()
			VEXTRACTF128(Imm(1), a0, hi)
			VADDPS(hi, a0.AsX(), hi)
			VMOVUPS(hi, Mem{Base: out, Disp: 4 * (t*R + g)})
		}
	}
	VZEROUPPER()
	RET()
}

// axpy4 generates axpy4<K>AVX2(v0, v1, v2, v3 *byte, s *[4]float32,
// dst *float32, n int): dst[i] += s[0]·v0[i] + s[1]·v1[i] + s[2]·v2[i] +
// s[3]·v3[i] for n a multiple of 8 (attention's weighted sum of values).
func axpy4(k weightKind) {
	name := fmt.Sprintf("axpy4%sAVX2", k.name)
	TEXT(name, NOSPLIT, "func(v0, v1, v2, v3 *byte, s *[4]float32, dst *float32, n int)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s adds four %s rows scaled by s to dst over n values (a multiple of 8).", name, k.name))
	var v [4]Register
	for r := range v {
		v[r] = Load(Param(fmt.Sprintf("v%d", r)), GP64())
	}
	sp := Load(Param("s"), GP64())
	var sc [4]VecVirtual
	for r := range sc {
		sc[r] = YMM()
		VBROADCASTSS(Mem{Base: sp, Disp: 4 * r}, sc[r])
	}
	dst := Load(Param("dst"), GP64())
	n := Load(Param("n"), GP64())
	i := GP64()
	XORQ(i, i)
	Label(name + "_loop")
	CMPQ(i, n)
	JGE(LabelRef(name + "_done"))
	d := YMM()
	VMOVUPS(Mem{Base: dst, Index: i, Scale: 4}, d)
	for r := 0; r < 4; r++ {
		wv := YMM()
		load(k, Mem{Base: v[r], Index: i, Scale: uint8(k.bytes)}, wv)
		VFMADD231PS(wv, sc[r], d)
	}
	VMOVUPS(d, Mem{Base: dst, Index: i, Scale: 4})
	ADDQ(Imm(8), i)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}
