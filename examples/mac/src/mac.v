// A registered 16x16 multiply-accumulate: a wide combinational path for synthesis to trade area against delay.
module mac (
    input  wire        clk,
    input  wire        rst_n,
    input  wire        clear,
    input  wire [15:0] a,
    input  wire [15:0] b,
    output reg  [39:0] acc
);
    reg [15:0] a_q, b_q;
    always @(posedge clk or negedge rst_n) begin
        if (!rst_n) begin
            a_q <= 16'd0;
            b_q <= 16'd0;
            acc <= 40'd0;
        end else begin
            a_q <= a;
            b_q <= b;
            acc <= clear ? 40'd0 : acc + a_q * b_q;
        end
    end
endmodule
