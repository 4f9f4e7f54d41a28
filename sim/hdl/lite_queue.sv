// An AXI4-Lite manager for a processor model: 32-bit accesses taken in order from a queue.
//
// The harness puts accesses in the queue of `csrc/lite_queue.cpp` (its `tinynpu_lite_push`) at
// any time, as many as it likes: a processor's stores retire into a store buffer and its loads
// wait for their data. The manager takes one access at a time. At the first rising edge it is
// free, after the time step the access was queued in, it takes the next (`tinynpu_lite_pop`);
// `delay` rising edges pass, counted from that one, before the edge that drives it (the processor
// computing before the access). It then drives the address (and data), holds each valid until
// its handshake, keeps RREADY and BREADY high and, at the edge that takes the response, tells the
// queue (`tinynpu_lite_complete`). It is free again from the next edge. For accesses asked for
// one after another this is exactly the timing of `lite_master.sv`: 3 cycles a read, back to
// back, against the NPU's front ends.
//
// `done` rises at the edge that completes an access the harness asked to be told of (a load, or
// the last store before the processor sleeps), with that access's sequence number on `tag` and,
// for a load, its data and response on `data` and `resp`. An access withdrawn from the queue
// before the edge that would drive it never reaches the bus; one on the bus completes. Not reset
// by `rst`: the manager is outside the NPU.
//
// The queue may also hold a sleep: the processor waiting for `irq` once the accesses before it
// are done and `delay` cycles of computation have passed. It ends where a processor model
// awaiting the last access's end, then the delay's edges, then `irq` would go on: with no delay,
// at that end if `irq` is high then, or else at the edge that raises it; with a delay, at its
// last edge if `irq` is high by then, or else at the edge that raises it. The entry after the
// sleep is taken at the next edge, so a sleep and the load that follows it (the processor reading
// why it woke) cost the harness one wake. `irq` is a level held until the processor clears its
// cause, so seeing it high one edge later than it rose is seeing the same.

module tinynpu_lite_queue #(
    parameter int ADDR_W = 16,
    parameter int PORT = 0
) (
    input  logic              clk,
    input  logic              irq,
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
    input int port, output int seq, output int kind, output int addr, output int wdata,
    output int strb, output int delay
  );
  import "DPI-C" function int tinynpu_lite_withdrawn(input int port);
  import "DPI-C" function int tinynpu_lite_complete(
    input int port, input int value, input int resp, input real time_ns
  );

  // AxPROT of every access: unprivileged, non-secure, data.
  localparam logic [2:0] PROT = 3'b010;
  // Kinds of queue entries (csrc/lite_queue.cpp).
  localparam int LOAD = 0, STORE = 1, SLEEP = 2;

  logic busy;  // an entry taken from the queue and not yet complete
  logic counting;  // its delay under way
  logic [31:0] left;  // edges of the delay still to pass after this one
  logic waiting;  // on the bus: address (and data) accepted, the response not yet taken
  logic sleeping;  // a sleep whose delay has passed, waiting for `irq`
  logic [1:0] kind;
  logic [31:0] seq;
  logic [ADDR_W-1:0] addr;
  logic [31:0] value;
  logic [3:0] strb;

  int p_seq, p_kind, p_addr, p_data, p_strb, p_delay;

  assign arprot = PROT;
  assign awprot = PROT;
  assign rready = 1'b1;
  assign bready = 1'b1;

  initial begin
    busy = 0;
    counting = 0;
    left = 0;
    waiting = 0;
    sleeping = 0;
    kind = 0;
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

  // Drive the access (or start the sleep) whose delay has passed.
  task automatic start(input logic [1:0] k, input logic [ADDR_W-1:0] a, input logic [31:0] d,
                       input logic [3:0] s);
    if (k == SLEEP) begin
      sleeping <= 1;
    end else if (k == STORE) begin
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

  // Take the next entry, if any. A sleep without delay that finds `irq` high ends at once, and
  // the entry after it is taken at this edge too.
  task automatic take();
    for (int taken = 0; taken < 2; taken++) begin
      if (tinynpu_lite_pop(PORT, p_seq, p_kind, p_addr, p_data, p_strb, p_delay) == 0) return;
      busy <= 1;
      seq <= p_seq;
      kind <= p_kind[1:0];
      addr <= p_addr[ADDR_W-1:0];
      value <= p_data;
      strb <= p_strb[3:0];
      if (p_kind != SLEEP || p_delay != 0) begin
        // A sleep's delay ends at its last edge, an access's at the edge that drives it.
        if ((p_kind == SLEEP ? p_delay - 1 : p_delay) == 0) begin
          start(p_kind[1:0], p_addr[ADDR_W-1:0], p_data, p_strb[3:0]);
        end else begin
          counting <= 1;
          left <= (p_kind == SLEEP ? p_delay - 1 : p_delay) - 1;
        end
        return;
      end
      if (!irq) begin
        sleeping <= 1;
        return;
      end
      void'(tinynpu_lite_complete(PORT, 0, 0, $realtime));
      busy <= 0;
    end
  endtask

  always @(posedge clk) begin
    done <= 0;
    if (waiting && (kind == STORE ? bvalid : rvalid)) begin
      waiting <= 0;
      busy <= 0;
      if (tinynpu_lite_complete(PORT, kind == STORE ? 0 : rdata, kind == STORE ? bresp : rresp,
                                $realtime) != 0) begin
        done <= 1;
        tag <= seq;
        data <= kind == STORE ? 0 : rdata;
        resp <= kind == STORE ? bresp : rresp;
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
      take();
    end else if (counting) begin
      if (tinynpu_lite_withdrawn(PORT) != 0) begin
        counting <= 0;
        busy <= 0;
      end else if (left == 0) begin
        counting <= 0;
        start(kind, addr, value, strb);
      end else begin
        left <= left - 1;
      end
    end else if (sleeping) begin
      if (tinynpu_lite_withdrawn(PORT) != 0) begin
        sleeping <= 0;
        busy <= 0;
      end else if (irq) begin
        sleeping <= 0;
        void'(tinynpu_lite_complete(PORT, 0, 0, $realtime));
        busy <= 0;
        take();
      end
    end
  end
endmodule
