// Command _asm generates memfit's AVX2/FMA/F16C kernels with avo. Run
// `go generate ./internal/kernels` (or `cd internal/kernels/_asm && go run .
// -out ../dot_amd64.s -stubs ../dot_amd64.go`); the generated files are
// committed.
package main

import (
	"fmt"

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
	ConstraintExpr("amd64,!purego")
	for _, k := range kinds {
		dot4(k)
	}
	Generate()
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

// dot4 generates dot4<K>AVX2(w0, w1, w2, w3 *byte, x *float32, n int,
// out *[4]float32): out[r] = Σ_{i<n} w_r[i]·x[i] for four weight rows, n a
// multiple of 16, summing in float32 with eight accumulators.
func dot4(k weightKind) {
	name := fmt.Sprintf("dot4%sAVX2", k.name)
	TEXT(name, NOSPLIT, "func(w0, w1, w2, w3 *byte, x *float32, n int, out *[4]float32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s computes four dot products of %s weight rows with x over n values (a multiple of 16).", name, k.name))
	var w [4]Register
	for r := range w {
		w[r] = Load(Param(fmt.Sprintf("w%d", r)), GP64())
	}
	x := Load(Param("x"), GP64())
	n := Load(Param("n"), GP64())
	out := Load(Param("out"), GP64())

	var acc [8]VecVirtual
	for i := range acc {
		acc[i] = YMM()
		VXORPS(acc[i], acc[i], acc[i])
	}
	i := GP64()
	XORQ(i, i)
	Label(name + "_loop")
	CMPQ(i, n)
	JGE(LabelRef(name + "_done"))
	for half := 0; half < 2; half++ {
		xv := YMM()
		VMOVUPS(Mem{Base: x, Index: i, Scale: 4, Disp: 32 * half}, xv)
		for r := 0; r < 4; r++ {
			wv := YMM()
			m := Mem{Base: w[r], Index: i, Scale: uint8(k.bytes), Disp: 8 * k.bytes * half}
			if k.name == "F32" {
				VFMADD231PS(m, xv, acc[2*r+half])
				continue
			}
			load(k, m, wv)
			VFMADD231PS(wv, xv, acc[2*r+half])
		}
	}
	ADDQ(Imm(16), i)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_done")
	for r := 0; r < 4; r++ {
		VADDPS(acc[2*r+1], acc[2*r], acc[2*r])
	}
	// Horizontal sums of the four accumulators into one XMM: [r0 r1 r2 r3].
	VHADDPS(acc[2], acc[0], acc[0])
	VHADDPS(acc[6], acc[4], acc[4])
	VHADDPS(acc[4], acc[0], acc[0])
	hi := XMM()
	VEXTRACTF128(Imm(1), acc[0], hi)
	VADDPS(hi, acc[0].(VecVirtual).AsX(), hi)
	VMOVUPS(hi, Mem{Base: out})
	VZEROUPPER()
	RET()
}
