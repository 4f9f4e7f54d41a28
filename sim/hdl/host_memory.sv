// Host memory: an AXI4 subordinate whose behaviour is the C++ model of csrc/host_memory.cpp.
//
// At every rising edge the model gets the port's inputs as they were before the edge and returns
// its outputs, which are registered here: to the NPU the memory is a synchronous block, and no
// Python runs for any beat.

module tinynpu_host_memory #(
    parameter int ADDR_W = 40,
    parameter int DATA_W = 64,
    parameter int ID_W = 4
) (
    input  logic              clk,
    input  logic              rst,
    // Read address and data.
    input  logic [ID_W-1:0]   arid,
    input  logic [ADDR_W-1:0] araddr,
    input  logic [7:0]        arlen,
    input  logic [2:0]        arsize,
    input  logic [1:0]        arburst,
    input  logic              arvalid,
    output logic              arready,
    output logic [ID_W-1:0]   rid,
    output logic [DATA_W-1:0] rdata,
    output logic [1:0]        rresp,
    output logic              rlast,
    output logic              rvalid,
    input  logic              rready,
    // Write address, data and response.
    input  logic [ID_W-1:0]   awid,
    input  logic [ADDR_W-1:0] awaddr,
    input  logic [7:0]        awlen,
    input  logic [2:0]        awsize,
    input  logic [1:0]        awburst,
    input  logic              awvalid,
    output logic              awready,
    input  logic [DATA_W-1:0] wdata,
    input  logic [DATA_W/8-1:0] wstrb,
    input  logic              wlast,
    input  logic              wvalid,
    output logic              wready,
    output logic [ID_W-1:0]   bid,
    output logic [1:0]        bresp,
    output logic              bvalid,
    input  logic              bready
);
  localparam int MAX_W = 1024;  // the model's widest bus

  import "DPI-C" function void tinynpu_host_memory_edge(
      input bit rst, input int lanes,
      input bit arvalid, input int arid, input longint araddr, input int arlen, input int arsize,
      input int arburst, input bit rready,
      input bit awvalid, input int awid, input longint awaddr, input int awlen, input int awsize,
      input int awburst,
      input bit wvalid, input bit [MAX_W-1:0] wdata, input bit [MAX_W/8-1:0] wstrb,
      input bit wlast, input bit bready,
      output bit arready, output bit rvalid, output int rid, output bit [MAX_W-1:0] rdata,
      output int rresp, output bit rlast,
      output bit awready, output bit wready, output bit bvalid, output int bid, output int bresp);

  bit o_arready, o_rvalid, o_rlast, o_awready, o_wready, o_bvalid;
  int o_rid, o_rresp, o_bid, o_bresp;
  bit [MAX_W-1:0] o_rdata;

  initial begin
    arready = 0;
    rvalid = 0;
    awready = 0;
    wready = 0;
    bvalid = 0;
  end

  always @(posedge clk) begin
    tinynpu_host_memory_edge(
        rst, DATA_W / 8,
        arvalid, int'(arid), longint'(araddr), int'(arlen), int'(arsize), int'(arburst), rready,
        awvalid, int'(awid), longint'(awaddr), int'(awlen), int'(awsize), int'(awburst),
        wvalid, MAX_W'(wdata), (MAX_W/8)'(wstrb), wlast, bready,
        o_arready, o_rvalid, o_rid, o_rdata, o_rresp, o_rlast,
        o_awready, o_wready, o_bvalid, o_bid, o_bresp);
    arready <= o_arready;
    rvalid <= o_rvalid;
    rid <= o_rid[ID_W-1:0];
    rdata <= o_rdata[DATA_W-1:0];
    rresp <= o_rresp[1:0];
    rlast <= o_rlast;
    awready <= o_awready;
    wready <= o_wready;
    bvalid <= o_bvalid;
    bid <= o_bid[ID_W-1:0];
    bresp <= o_bresp[1:0];
  end
endmodule
