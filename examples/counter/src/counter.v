// SPDX-License-Identifier: Apache-2.0
// An 8-bit up counter with synchronous enable and asynchronous active-low reset.
module counter #(parameter WIDTH = 8) (
    input clk,
    input rst_n,
    input enable,
    output reg [WIDTH-1:0] count,
    output wrapped
);
    assign wrapped = enable && (count == {WIDTH{1'b1}});

    always @(posedge clk or negedge rst_n) begin
        if (!rst_n)
            count <= {WIDTH{1'b0}};
        else if (enable)
            count <= count + 1'b1;
    end
endmodule
