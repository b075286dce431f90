// SPDX-License-Identifier: Apache-2.0
// Deliberately broken: the non-blocking assignment below lacks its semicolon, so synthesis must fail
// with a syntax error (OpenLane Cloud's tests rely on that).
module blinky (
    input clk,
    input rst_n,
    output reg led
);
    always @(posedge clk or negedge rst_n) begin
        if (!rst_n)
            led <= 1'b0;
        else
            led <= ~led
    end
endmodule
