// Multiplications by a constant as canonical-signed-digit (non-adjacent form) shift-adds.
// Yosys would otherwise build an array multiplier from the two's complement constant: a
// sign-extended negative weight such as -34 has ten one-bits where its CSD form -32 - 2 has two
// digits. The shifted terms become plain $add/$sub cells, which alumacc merges with the
// neuron's sum into one carry-save tree. Used for RTL that multiplies by constants (as the
// published bespoke MLP RTL does); codesign's own RTL is already written as shift-adds.
(* techmap_celltype = "$mul" *)
module _csd_mul (A, B, Y);
	parameter A_SIGNED = 0;
	parameter B_SIGNED = 0;
	parameter A_WIDTH = 1;
	parameter B_WIDTH = 1;
	parameter Y_WIDTH = 1;
	parameter _TECHMAP_CONSTMSK_A_ = 0;
	parameter _TECHMAP_CONSTVAL_A_ = 0;
	parameter _TECHMAP_CONSTMSK_B_ = 0;
	parameter _TECHMAP_CONSTVAL_B_ = 0;

	input [A_WIDTH-1:0] A;
	input [B_WIDTH-1:0] B;
	output [Y_WIDTH-1:0] Y;

	localparam B_CONST = &_TECHMAP_CONSTMSK_B_;
	localparam A_CONST = &_TECHMAP_CONSTMSK_A_;
	wire _TECHMAP_FAIL_ = !(A_CONST || B_CONST);

	// the variable operand and the constant, both extended to the result width
	wire [Y_WIDTH-1:0] x;
	generate
		if (B_CONST) begin : xb
			\$pos #(.A_SIGNED(A_SIGNED), .A_WIDTH(A_WIDTH), .Y_WIDTH(Y_WIDTH)) ext (.A(A), .Y(x));
		end else begin : xa
			\$pos #(.A_SIGNED(B_SIGNED), .A_WIDTH(B_WIDTH), .Y_WIDTH(Y_WIDTH)) ext (.A(B), .Y(x));
		end
	endgenerate

	function automatic [Y_WIDTH-1:0] extend;
		input [31:0] width;
		input signed_;
		input [Y_WIDTH+B_WIDTH+A_WIDTH-1:0] value;
		integer i;
		begin
			for (i = 0; i < Y_WIDTH; i = i + 1)
				extend[i] = i < width ? value[i] : (signed_ ? value[width-1] : 1'b0);
		end
	endfunction

	localparam [Y_WIDTH-1:0] C = B_CONST ? extend(B_WIDTH, B_SIGNED, _TECHMAP_CONSTVAL_B_)
	                                     : extend(A_WIDTH, A_SIGNED, _TECHMAP_CONSTVAL_A_);

	// non-adjacent form of C modulo 2^Y_WIDTH: digit +1 where POS, -1 where NEG
	function automatic [2*Y_WIDTH-1:0] naf;
		input [Y_WIDTH-1:0] c;
		reg [Y_WIDTH+1:0] v;
		integer i;
		begin
			v = c;
			naf = 0;
			for (i = 0; i < Y_WIDTH; i = i + 1) begin
				if (v[0]) begin
					if (v[1]) begin
						naf[Y_WIDTH + i] = 1'b1;
						v = v + 1;
					end else begin
						naf[i] = 1'b1;
						v = v - 1;
					end
				end
				v = v >> 1;
			end
		end
	endfunction

	localparam [2*Y_WIDTH-1:0] DIGITS = naf(C);
	localparam [Y_WIDTH-1:0] POS = DIGITS[Y_WIDTH-1:0];
	localparam [Y_WIDTH-1:0] NEG = DIGITS[2*Y_WIDTH-1:Y_WIDTH];

	wire [Y_WIDTH-1:0] sum [0:Y_WIDTH];
	assign sum[0] = {Y_WIDTH{1'b0}};
	genvar i;
	generate
		for (i = 0; i < Y_WIDTH; i = i + 1) begin : digit
			if (POS[i]) begin : p
				assign sum[i + 1] = sum[i] + (x << i);
			end else if (NEG[i]) begin : n
				assign sum[i + 1] = sum[i] - (x << i);
			end else begin : z
				assign sum[i + 1] = sum[i];
			end
		end
	endgenerate
	assign Y = sum[Y_WIDTH];
endmodule
