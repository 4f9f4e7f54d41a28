// An AXI4-Lite manager for a processor model: 32-bit accesses taken in order from a queue.
//
// The harness puts accesses in the queue of `csrc/lite_queue.cpp` (its `tinynpu_lite_push`) at
// any time, as many as it likes: a processor's stores retire into a store buffer and its loads
// wait for their data. The manager takes one access at a time. At the first rising edge it is
// free, after the time step the access was queued in, it takes the next (`tinynpu_lite_pop`);
// `delay` rising edges pass, counted from that one, before the edge that drives it (the processor
// computing before the access). It then drives the address (and data), holds each valid until
// its handshake, keeps RREADY and BREADY high and, at the edge that takes the response, tells the
// queue (`tinynpu_lite_complete`). It is free again from the next edge. For accesses asked for one after another this is exactly the timing of
// `lite_master.sv`: 3 cycles a read, back to back, against the NPU's front ends.
//
// `done` rises at the edge that completes an access the harness asked to be told of (a load, or
// the last store before the processor sleeps), with that access's sequence number on `tag` and,
// for a load, its data and response on `data` and `resp`. An access withdrawn from the queue
// before the edge that would drive it never reaches the bus; one on the bus completes. Not reset
// by `rst`: the manager is outside the NPU.

module tinynpu_lite_queue #(
    parameter int ADDR_W = 16,
    parameter int PORT = 0
) (
    input  logic              clk,
    // To the harness.
    output logic              done,
    output logic [31:0]       tag,
    output logic [31:0]       data,
    output logic [1:0]        resp,
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
  import "DPI-C" function int tinynpu_lite_pop(
    input int port, output int seq, output int write, output int addr, output int wdata,
    output int strb, output int delay
  );
  import "DPI-C" function int tinynpu_lite_withdrawn(input int port);
  import "DPI-C" function int tinynpu_lite_complete(
    input int port, input int value, input int resp, input real time_ns
  );

  // AxPROT of every access: unprivileged, non-secure, data.
  localparam logic [2:0] PROT = 3'b010;

  logic busy;  // an access taken from the queue and not yet complete
  logic counting;  // its delay under way
  logic [31:0] left;  // edges of the delay still to pass after this one
  logic waiting;  // on the bus: address (and data) accepted, the response not yet taken
  logic write;  // the access is a store
  logic [31:0] seq;
  logic [ADDR_W-1:0] addr;
  logic [31:0] value;
  logic [3:0] strb;

  int popped, p_seq, p_write, p_addr, p_data, p_strb, p_delay;

  assign arprot = PROT;
  assign awprot = PROT;
  assign rready = 1'b1;
  assign bready = 1'b1;

  initial begin
    busy = 0;
    counting = 0;
    left = 0;
    waiting = 0;
    write = 0;
    seq = 0;
    addr = 0;
    value = 0;
    strb = 0;
    done = 0;
    tag = 0;
    data = 0;
    resp = 0;
    arvalid = 0;
    awvalid = 0;
    wvalid = 0;
    araddr = 0;
    awaddr = 0;
    wdata = 0;
    wstrb = 0;
  end

  task automatic drive(input logic is_write, input logic [ADDR_W-1:0] a, input logic [31:0] d,
                       input logic [3:0] s);
    if (is_write) begin
      awaddr <= a;
      wdata <= d;
      wstrb <= s;
      awvalid <= 1;
      wvalid <= 1;
    end else begin
      araddr <= a;
      arvalid <= 1;
    end
  endtask

  always @(posedge clk) begin
    done <= 0;
    if (waiting && (write ? bvalid : rvalid)) begin
      waiting <= 0;
      busy <= 0;
      if (tinynpu_lite_complete(PORT, write ? 0 : rdata, write ? bresp : rresp, $realtime) != 0)
      begin
        done <= 1;
        tag <= seq;
        data <= write ? 0 : rdata;
        resp <= write ? bresp : rresp;
      end
    end
    if (arvalid && arready) begin
      arvalid <= 0;
      waiting <= 1;
    end
    if (awvalid && awready) awvalid <= 0;
    if (wvalid && wready) wvalid <= 0;
    if ((awvalid || wvalid) && (!awvalid || awready) && (!wvalid || wready)) waiting <= 1;

    if (!busy) begin
      popped = tinynpu_lite_pop(PORT, p_seq, p_write, p_addr, p_data, p_strb, p_delay);
      if (popped != 0) begin
        busy <= 1;
        seq <= p_seq;
        write <= p_write != 0;
        addr <= p_addr[ADDR_W-1:0];
        value <= p_data;
        strb <= p_strb[3:0];
        if (p_delay == 0) begin
          drive(p_write != 0, p_addr[ADDR_W-1:0], p_data, p_strb[3:0]);
        end else begin
          counting <= 1;
          left <= p_delay - 1;
        end
      end
    end else if (counting) begin
      if (tinynpu_lite_withdrawn(PORT) != 0) begin
        counting <= 0;
        busy <= 0;
      end else if (left == 0) begin
        counting <= 0;
        drive(write, addr, value, strb);
      end else begin
        left <= left - 1;
      end
    end
  end
endmodule
