// An AXI4-Lite master for 32-bit register accesses, driven by the C++ of csrc/axil_master.cpp.
//
// The harness posts accesses to the C++ and waits for reads_done or writes_done to change; the
// C++ sees the port's inputs as they were before each rising edge and its outputs are registered
// here, so the bus cycles cost no Python.

module tinynpu_axil_master #(
    parameter int PORT = 0,  // 0: the host's, 1: the control processor's
    parameter int ADDR_W = 16
) (
    input  logic              clk,
    output logic [ADDR_W-1:0] araddr,
    output logic [2:0]        arprot,
    output logic              arvalid,
    input  logic              arready,
    input  logic [31:0]       rdata,
    input  logic [1:0]        rresp,
    input  logic              rvalid,
    output logic              rready,
    output logic [ADDR_W-1:0] awaddr,
    output logic [2:0]        awprot,
    output logic              awvalid,
    input  logic              awready,
    output logic [31:0]       wdata,
    output logic [3:0]        wstrb,
    output logic              wvalid,
    input  logic              wready,
    input  logic [1:0]        bresp,
    input  logic              bvalid,
    output logic              bready,
    // Accesses completed, per direction: what the harness waits on.
    output logic [31:0]       reads_done,
    output logic [31:0]       writes_done
);
  import "DPI-C" function void tinynpu_axil_edge(
      input int port, input bit arready, input bit rvalid, input int rdata, input int rresp,
      input bit awready, input bit wready, input bit bvalid, input int bresp,
      output bit arvalid, output int araddr, output int arprot, output bit awvalid,
      output int awaddr, output int awprot, output bit wvalid, output int wdata, output int wstrb,
      output int reads_done, output int writes_done);

  bit o_arvalid, o_awvalid, o_wvalid;
  int o_araddr, o_arprot, o_awaddr, o_awprot, o_wdata, o_wstrb, o_reads, o_writes;

  assign rready = 1'b1;
  assign bready = 1'b1;

  initial begin
    arvalid = 0;
    awvalid = 0;
    wvalid = 0;
    reads_done = 0;
    writes_done = 0;
  end

  always @(posedge clk) begin
    tinynpu_axil_edge(
        PORT, arready, rvalid, int'(rdata), int'(rresp), awready, wready, bvalid, int'(bresp),
        o_arvalid, o_araddr, o_arprot, o_awvalid, o_awaddr, o_awprot, o_wvalid, o_wdata,
        o_wstrb, o_reads, o_writes);
    arvalid <= o_arvalid;
    araddr <= o_araddr[ADDR_W-1:0];
    arprot <= o_arprot[2:0];
    awvalid <= o_awvalid;
    awaddr <= o_awaddr[ADDR_W-1:0];
    awprot <= o_awprot[2:0];
    wvalid <= o_wvalid;
    wdata <= o_wdata;
    wstrb <= o_wstrb[3:0];
    reads_done <= o_reads;
    writes_done <= o_writes;
  end
endmodule
