package kernels

//go:generate sh -c "cd _asm && go run . -set float -out ../dot_amd64.s -stubs ../dot_amd64.go -pkg kernels"
//go:generate sh -c "cd _asm && go run . -set quant -out ../quant_amd64.s -stubs ../quant_amd64.go -pkg kernels"
//go:generate sh -c "cd _asm && go run . -set quant512 -out ../quant512_amd64.s -stubs ../quant512_amd64.go -pkg kernels"
