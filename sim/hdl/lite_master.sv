// An AXI4-Lite manager for the harness: 32-bit register accesses asked for by sequence number.
//
// The harness asks for an access by writing its address (and data and strobes) and a new
// sequence number to the request inputs, at any time; nothing else of the access costs it a
// wake. At the next rising edge the manager drives the address (and data), holds each valid until
// its handshake, keeps RREADY and BREADY high, and at the edge that takes the response latches it
// into `rd_data`/`rd_resp` (`wr_resp`) and raises `rd_done` (`wr_done`) for one cycle. The
// harness waits for that rise and may ask for the next access at once: the manager starts it at
// the next edge. This is the timing of a manager that samples at each edge and drives after it,
// starting on a clock edge: 3 cycles a read, back to back, against the NPU's front ends.
//
// A request may ask for a delay: `rd_delay` (`wr_delay`) rising edges pass, counted from the
// first after the request, before the one that drives it (a processor computing before its load
// or store; the harness pays no wake for the wait).
//
// A request overtaken by a newer one before it reached the bus is dropped; one on the bus
// completes (a manager cannot take back a valid). `rd_tag` (`wr_tag`) names the access whose
// response is on the bus, so a harness that gave up on an access does not take its response for
// the next one's. Reads and writes are independent, as the channels are. Not reset by `rst`: the
// manager is outside the NPU.

module tinynpu_lite_master #(
    parameter int ADDR_W = 16,
    parameter int TAG_W = 8
) (
    input  logic              clk,
    // Requests, from the harness.
    input  logic [TAG_W-1:0]  rd_seq,
    input  logic [ADDR_W-1:0] rd_addr,
    input  logic [31:0]       rd_delay,
    output logic              rd_done,
    output logic [TAG_W-1:0]  rd_tag,
    output logic [31:0]       rd_data,
    output logic [1:0]        rd_resp,
    input  logic [TAG_W-1:0]  wr_seq,
    input  logic [ADDR_W-1:0] wr_addr,
    input  logic [31:0]       wr_data,
    input  logic [3:0]        wr_strb,
    input  logic [31:0]       wr_delay,
    output logic              wr_done,
    output logic [TAG_W-1:0]  wr_tag,
    output logic [1:0]        wr_resp,
    // The manager port, to the NPU.
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
    output logic              bready
);
  // AxPROT of every access: unprivileged, non-secure, data.
  localparam logic [2:0] PROT = 3'b010;

  logic [TAG_W-1:0] rd_taken, wr_taken;  // the latest request put on the bus
  logic rd_waiting, wr_waiting;  // address (and data) accepted, the response not yet taken
  logic rd_counting, wr_counting;  // a request's delay under way
  logic [31:0] rd_left, wr_left;  // edges of the delay still to pass after this one

  assign arprot = PROT;
  assign awprot = PROT;
  assign rready = 1'b1;
  assign bready = 1'b1;
  assign rd_tag = rd_taken;
  assign wr_tag = wr_taken;

  initial begin
    rd_taken = 0;
    wr_taken = 0;
    rd_waiting = 0;
    wr_waiting = 0;
    rd_counting = 0;
    wr_counting = 0;
    rd_left = 0;
    wr_left = 0;
    rd_done = 0;
    wr_done = 0;
    rd_data = 0;
    rd_resp = 0;
    wr_resp = 0;
    arvalid = 0;
    awvalid = 0;
    wvalid = 0;
    araddr = 0;
    awaddr = 0;
    wdata = 0;
    wstrb = 0;
  end

  always @(posedge clk) begin
    rd_done <= rd_waiting && rvalid;
    if (rd_waiting && rvalid) begin
      rd_waiting <= 0;
      rd_data <= rdata;
      rd_resp <= rresp;
    end
    if (arvalid && arready) begin
      arvalid <= 0;
      rd_waiting <= 1;
    end
    if (rd_seq == rd_taken) begin
      rd_counting <= 0;  // withdrawn while it waited
    end else if (!arvalid && !rd_waiting) begin
      if (rd_counting ? rd_left == 0 : rd_delay == 0) begin
        rd_counting <= 0;
        rd_taken <= rd_seq;
        araddr <= rd_addr;
        arvalid <= 1;
      end else begin
        rd_counting <= 1;
        rd_left <= rd_counting ? rd_left - 1 : rd_delay - 1;
      end
    end
  end

  always @(posedge clk) begin
    wr_done <= wr_waiting && bvalid;
    if (wr_waiting && bvalid) begin
      wr_waiting <= 0;
      wr_resp <= bresp;
    end
    if (awvalid && awready) awvalid <= 0;
    if (wvalid && wready) wvalid <= 0;
    if ((awvalid || wvalid) && (!awvalid || awready) && (!wvalid || wready)) wr_waiting <= 1;
    if (wr_seq == wr_taken) begin
      wr_counting <= 0;
    end else if (!awvalid && !wvalid && !wr_waiting) begin
      if (wr_counting ? wr_left == 0 : wr_delay == 0) begin
        wr_counting <= 0;
        wr_taken <= wr_seq;
        awaddr <= wr_addr;
        wdata <= wr_data;
        wstrb <= wr_strb;
        awvalid <= 1;
        wvalid <= 1;
      end else begin
        wr_counting <= 1;
        wr_left <= wr_counting ? wr_left - 1 : wr_delay - 1;
      end
    end
  end
endmodule
