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
		}
		pause()
		siluMul()
		expMinus()
		for _, k := range kinds[:2] {
			attnScores(k)
			attnOut(k)
		}
	case "quant":
		quantKernels()
	case "quant512":
		quant512Kernels()
	default:
		fmt.Fprintf(os.Stderr, "unknown -set %q\n", *set)
		os.Exit(2)
	}
	Generate()
	if *set != "quant512" {
		checkAVX2Only()
	}
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

// pause generates cpuPause(n int): n PAUSE instructions, the spin-wait hint
// the worker pool uses between polls.
func pause() {
	TEXT("cpuPause", NOSPLIT, "func(n int)")
	Doc("cpuPause executes n PAUSE instructions (a spin-wait hint).")
	n := Load(Param("n"), GP64())
	Label("pause_loop")
	PAUSE()
	DECQ(n)
	JNZ(LabelRef("pause_loop"))
	RET()
}

// f32Bcast declares a 32-byte constant of eight copies of float32 v.
func f32Bcast(name string, v float32) Mem {
	m := GLOBL(name, RODATA|NOPTR)
	for i := 0; i < 8; i++ {
		DATA(4*i, F32(v))
	}
	return m
}

// siluMul generates siluMulAVX2(out, gate, up *float32, n int):
// out[i] = silu(gate[i])·up[i] for n a multiple of 8, with exactly the
// operations of the Go body (silu32 in silu.go), so the results are the
// same bits.
func siluMul() {
	c := expConstants()
	neg := GLOBL("silu_neg", RODATA|NOPTR)
	for i := 0; i < 8; i++ {
		DATA(4*i, U32(0x80000000))
	}
	TEXT("siluMulAVX2", NOSPLIT, "func(out, gate, up *float32, n int)")
	Pragma("noescape")
	Doc("siluMulAVX2 writes silu(gate)·up to out over n values (a multiple of 8), bit-identical with siluMulGo.")
	out := Load(Param("out"), GP64())
	gate := Load(Param("gate"), GP64())
	up := Load(Param("up"), GP64())
	n := Load(Param("n"), GP64())
	one := YMM()
	VMOVUPS(c.one, one)
	i := GP64()
	XORQ(i, i)
	Label("silu_loop")
	CMPQ(i, n)
	JGE(LabelRef("silu_done"))
	g, x := YMM(), YMM()
	VMOVUPS(Mem{Base: gate, Index: i, Scale: 4}, g)
	VXORPS(neg, g, x)
	exp8(c, x)
	VADDPS(one, x, x)
	VDIVPS(x, g, g)
	VMULPS(Mem{Base: up, Index: i, Scale: 4}, g, g)
	VMOVUPS(g, Mem{Base: out, Index: i, Scale: 4})
	ADDQ(Imm(8), i)
	JMP(LabelRef("silu_loop"))
	Label("silu_done")
	VZEROUPPER()
	RET()
}

// expConsts are the float32 exp constants shared by siluMul and expMinus.
type expConsts struct {
	max, min, log2e, hi, lo, one, bias Mem
	p                                  []Mem
}

var ec *expConsts

func expConstants() *expConsts {
	if ec != nil {
		return ec
	}
	bias := GLOBL("exp_bias", RODATA|NOPTR)
	for i := 0; i < 8; i++ {
		DATA(4*i, U32(127))
	}
	ec = &expConsts{
		max:   f32Bcast("exp_max", 89),
		min:   f32Bcast("exp_min", -87),
		log2e: f32Bcast("exp_log2e", 1.44269504088896341),
		hi:    f32Bcast("exp_ln2hi", 0.693359375),
		lo:    f32Bcast("exp_ln2lo", -2.12194440e-4),
		one:   f32Bcast("exp_one", 1),
		bias:  bias,
		p: []Mem{
			f32Bcast("exp_p0", 1.9875691500e-4),
			f32Bcast("exp_p1", 1.3981999507e-3),
			f32Bcast("exp_p2", 8.3334519073e-3),
			f32Bcast("exp_p3", 4.1665795894e-2),
			f32Bcast("exp_p4", 1.6666665459e-1),
			f32Bcast("exp_p5", 5.0000001201e-1),
		},
	}
	return ec
}

// exp8 replaces x (clamped to [−87, 89] first) with e^x, exactly as exp32
// in silu.go computes it.
func exp8(c *expConsts, x VecVirtual) {
	VMINPS(c.max, x, x)
	VMAXPS(c.min, x, x)
	nv := YMM()
	VMULPS(c.log2e, x, nv)
	VROUNDPS(Imm(0), nv, nv)
	a, r := YMM(), YMM()
	VMULPS(c.hi, nv, a)
	VSUBPS(a, x, r)
	VMULPS(c.lo, nv, a)
	VSUBPS(a, r, r)
	z := YMM()
	VMULPS(r, r, z)
	pv := YMM()
	VMULPS(c.p[0], r, pv)
	VADDPS(c.p[1], pv, pv)
	for k := 2; k < 6; k++ {
		VMULPS(r, pv, pv)
		VADDPS(c.p[k], pv, pv)
	}
	VMULPS(z, pv, pv)
	VADDPS(r, pv, pv)
	VADDPS(c.one, pv, pv)
	VCVTTPS2DQ(nv, nv)
	VPADDD(c.bias, nv, nv)
	VPSLLD(Imm(23), nv, nv)
	VMULPS(nv, pv, x)
}

// expMinus generates expMinusAVX2(v *float32, n int, m float32): v[i] =
// exp32(v[i] − m) over n values (a multiple of 8), bit-identical with the
// Go body (softmax's exponentials).
func expMinus() {
	c := expConstants()
	TEXT("expMinusAVX2", NOSPLIT, "func(v *float32, n int, m float32)")
	Pragma("noescape")
	Doc("expMinusAVX2 replaces v[i] with exp32(v[i] − m) over n values (a multiple of 8).")
	v := Load(Param("v"), GP64())
	n := Load(Param("n"), GP64())
	mx := XMM()
	Load(Param("m"), mx)
	mv := YMM()
	VBROADCASTSS(mx, mv)
	i := GP64()
	XORQ(i, i)
	Label("expm_loop")
	CMPQ(i, n)
	JGE(LabelRef("expm_done"))
	x := YMM()
	VMOVUPS(Mem{Base: v, Index: i, Scale: 4}, x)
	VSUBPS(mv, x, x)
	exp8(c, x)
	VMOVUPS(x, Mem{Base: v, Index: i, Scale: 4})
	ADDQ(Imm(8), i)
	JMP(LabelRef("expm_loop"))
	Label("expm_done")
	VZEROUPPER()
	RET()
}

// attnScores generates attnScores<K>AVX2(q *float32, k *byte, stride, n, d
// int, out *float32): out[i] = q · key_i for n cached positions, key i at
// k + i·stride bytes, d values (a multiple of 8) each, four positions at a
// time as dot4x1 computes them (the last group repeats its last key; out
// needs room for n rounded up to 4).
func attnScores(kd weightKind) {
	name := fmt.Sprintf("attnScores%sAVX2", kd.name)
	TEXT(name, NOSPLIT, "func(q *float32, k *byte, stride, n, d int, out *float32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s computes the scores of q against n %s keys stride bytes apart (d a multiple of 8; out holds n rounded up to 4).", name, kd.name))
	q := Load(Param("q"), GP64())
	k := Load(Param("k"), GP64())
	stride := Load(Param("stride"), GP64())
	n := Load(Param("n"), GP64())
	d := Load(Param("d"), GP64())
	out := Load(Param("out"), GP64())
	last := GP64() // address of the last key
	MOVQ(n, last)
	DECQ(last)
	IMULQ(stride, last)
	ADDQ(k, last)
	Label(name + "_group")
	var rows [4]Register
	rows[0] = k
	for j := 1; j < 4; j++ {
		rows[j] = GP64()
		LEAQ(Mem{Base: rows[j-1], Index: stride, Scale: 1}, rows[j])
		CMPQ(rows[j], last)
		CMOVQGT(last, rows[j])
	}
	acc := make([]VecVirtual, 4)
	for j := range acc {
		acc[j] = YMM()
		VXORPS(acc[j], acc[j], acc[j])
	}
	i := GP64()
	XORQ(i, i)
	Label(name + "_loop")
	CMPQ(i, d)
	JGE(LabelRef(name + "_red"))
	xv := YMM()
	VMOVUPS(Mem{Base: q, Index: i, Scale: 4}, xv)
	for j := 0; j < 4; j++ {
		wv := YMM()
		load(kd, Mem{Base: rows[j], Index: i, Scale: uint8(kd.bytes)}, wv)
		VFMADD231PS(wv, xv, acc[j])
	}
	ADDQ(Imm(8), i)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_red")
	VHADDPS(acc[1], acc[0], acc[0])
	VHADDPS(acc[3], acc[2], acc[2])
	VHADDPS(acc[2], acc[0], acc[0])
	hi := XMM()
	VEXTRACTF128(Imm(1), acc[0], hi)
	VADDPS(hi, acc[0].AsX(), hi)
	VMOVUPS(hi, Mem{Base: out})
	ADDQ(Imm(16), out)
	LEAQ(Mem{Base: rows[3], Index: stride, Scale: 1}, k)
	SUBQ(Imm(4), n)
	JG(LabelRef(name + "_group"))
	VZEROUPPER()
	RET()
}

// attnOut generates attnOut<K>AVX2(p *float32, v *byte, stride, n, d int,
// out *float32): out = Σ_i p[i]·value_i over n cached positions (value i at
// v + i·stride bytes, d values, a multiple of 8), each element summed in
// position order with fused multiply-adds, 32 elements at a time.
func attnOut(kd weightKind) {
	name := fmt.Sprintf("attnOut%sAVX2", kd.name)
	TEXT(name, NOSPLIT, "func(p *float32, v *byte, stride, n, d int, out *float32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s writes Σ p[i]·value_i over n %s values stride bytes apart (d a multiple of 8) to out.", name, kd.name))
	p := Load(Param("p"), GP64())
	v := Load(Param("v"), GP64())
	stride := Load(Param("stride"), GP64())
	n := Load(Param("n"), GP64())
	d := Load(Param("d"), GP64())
	out := Load(Param("out"), GP64())
	c := GP64() // element offset of the current chunk
	XORQ(c, c)
	Label(name + "_chunk")
	CMPQ(c, d)
	JGE(LabelRef(name + "_done"))
	// Up to four 8-element accumulators (32 elements) per pass.
	left := GP64()
	MOVQ(d, left)
	SUBQ(c, left)
	for _, w := range []int{4, 2, 1} {
		lbl := fmt.Sprintf("%s_w%d", name, w)
		next := fmt.Sprintf("%s_w%d_skip", name, w)
		CMPQ(left, U32(8*w))
		JL(LabelRef(next))
		Label(lbl)
		acc := make([]VecVirtual, w)
		for j := range acc {
			acc[j] = YMM()
			VXORPS(acc[j], acc[j], acc[j])
		}
		row, i, end := GP64(), GP64(), GP64()
		LEAQ(Mem{Base: v, Index: c, Scale: uint8(kd.bytes)}, row)
		XORQ(i, i)
		MOVQ(n, end)
		Label(lbl + "_pos")
		pv := YMM()
		VBROADCASTSS(Mem{Base: p, Index: i, Scale: 4}, pv)
		for j := 0; j < w; j++ {
			wv := YMM()
			load(kd, Mem{Base: row, Disp: 8 * kd.bytes * j}, wv)
			VFMADD231PS(wv, pv, acc[j])
		}
		ADDQ(stride, row)
		INCQ(i)
		CMPQ(i, end)
		JL(LabelRef(lbl + "_pos"))
		for j := 0; j < w; j++ {
			VMOVUPS(acc[j], Mem{Base: out, Index: c, Scale: 4, Disp: 32 * j})
		}
		ADDQ(U32(8*w), c)
		JMP(LabelRef(name + "_chunk"))
		Label(next)
	}
	Label(name + "_done")
	VZEROUPPER()
	RET()
}
