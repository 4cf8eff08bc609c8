// Ripple-carry adders for area-first printed logic: yosys' default $alu mapping uses a
// Brent-Kung carry-lookahead tree, which trades area for delay; bespoke printed circuits are
// area- and power-bound, so every adder here uses the plain carry chain.
(* techmap_celltype = "$alu" *)
module _codesign_ripple_alu (A, B, CI, BI, X, Y, CO);
	parameter A_SIGNED = 0;
	parameter B_SIGNED = 0;
	parameter A_WIDTH = 1;
	parameter B_WIDTH = 1;
	parameter Y_WIDTH = 1;

	(* force_downto *) input [A_WIDTH-1:0] A;
	(* force_downto *) input [B_WIDTH-1:0] B;
	(* force_downto *) output [Y_WIDTH-1:0] X, Y;
	input CI, BI;
	(* force_downto *) output [Y_WIDTH-1:0] CO;

	(* force_downto *) wire [Y_WIDTH-1:0] a_ext, b_ext;
	\$pos #(.A_SIGNED(A_SIGNED), .A_WIDTH(A_WIDTH), .Y_WIDTH(Y_WIDTH)) a_conv (.A(A), .Y(a_ext));
	\$pos #(.A_SIGNED(B_SIGNED), .A_WIDTH(B_WIDTH), .Y_WIDTH(Y_WIDTH)) b_conv (.A(B), .Y(b_ext));

	(* force_downto *) wire [Y_WIDTH-1:0] b_in = BI ? ~b_ext : b_ext;
	(* force_downto *) wire [Y_WIDTH-1:0] propagate = a_ext ^ b_in;
	(* force_downto *) wire [Y_WIDTH-1:0] generate_ = a_ext & b_in;
	(* force_downto *) wire [Y_WIDTH:0] carry;
	assign carry[0] = CI;
	genvar i;
	generate
		for (i = 0; i < Y_WIDTH; i = i + 1) begin : chain
			assign carry[i + 1] = generate_[i] | (propagate[i] & carry[i]);
		end
	endgenerate
	assign X = propagate;
	assign CO = carry[Y_WIDTH:1];
	assign Y = propagate ^ carry[Y_WIDTH-1:0];
endmodule
