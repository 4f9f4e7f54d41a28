// The host's and the control processor's AXI4-Lite masters, inside the Verilated model.
//
// The Python harness posts a 32-bit access (tinynpu_axil_post) and sleeps until the port's
// completion counter changes: one Python wake per access, none per bus cycle. The SystemVerilog
// shell (sim/hdl/axil_master.sv) calls tinynpu_axil_edge() at every rising edge with the port's
// inputs as they were before the edge and registers what it returns.
//
// Timing, the same as the Python master this replaced:
// - an access starts at the first edge after it was posted (after `delay` more edges, the cycles
//   a core spends issuing it) and after the previous access of its direction completed; it drives
//   its address (and data) from that edge;
// - each later edge drops a valid whose handshake it sees, and completes the access at the edge
//   that sees the response with every handshake done; RREADY and BREADY are always high;
// - reads and writes are independent; accesses of one direction are done in the order posted.
//
// A cancelled access (its caller was killed, as a crashed core would be) is forgotten: it leaves
// the bus at the next edge.

#include <cstdint>
#include <deque>
#include <unordered_map>

#include "Vtop__Dpi.h"
#include "verilated.h"

namespace {

struct Access {
    uint64_t ticket;
    uint32_t addr, data, strb, prot;
    uint64_t posted;  // simulated time, in the simulator's precision
    uint32_t delay;   // edges to let pass after the first one following `posted`
};

struct Result {
    uint32_t data, resp;
};

// One direction of one port: reads, or writes.
struct Channel {
    std::deque<Access> queue;
    bool active = false, addr_pending = false, data_pending = false;
    Access current{};
    uint32_t completed = 0;
    std::unordered_map<uint64_t, Result> results;

    // Edges since posting, counted for the head of the queue.
    uint32_t waited = 0;

    void cancel(uint64_t ticket) {
        if (active && current.ticket == ticket) {
            active = addr_pending = data_pending = false;
            return;
        }
        for (auto it = queue.begin(); it != queue.end(); ++it) {
            if (it->ticket == ticket) {
                if (it == queue.begin()) waited = 0;
                queue.erase(it);
                return;
            }
        }
        results.erase(ticket);
    }

    // Whether the head of the queue starts at this edge.
    bool starts(uint64_t now) {
        if (active || queue.empty()) return false;
        const Access& head = queue.front();
        if (now <= head.posted) return false;
        if (waited < head.delay) {
            ++waited;
            return false;
        }
        current = head;
        queue.pop_front();
        waited = 0;
        active = true;
        return true;
    }

    // The next access starts at an edge after this one: the edge() below tries no start here.
    void complete(uint32_t data, uint32_t resp) {
        results[current.ticket] = Result{data, resp};
        active = false;
        ++completed;
    }
};

struct Port {
    Channel reads, writes;
    uint64_t next_ticket = 1;
};

Port ports[2];  // host, cp

}  // namespace

extern "C" {

void tinynpu_axil_edge(int port, svBit arready, svBit rvalid, int rdata, int rresp,
                       svBit awready, svBit wready, svBit bvalid, int bresp, svBit* arvalid,
                       int* araddr, int* arprot, svBit* awvalid, int* awaddr, int* awprot,
                       svBit* wvalid, int* wdata, int* wstrb, int* reads_done,
                       int* writes_done) {
    Port& p = ports[port];
    const uint64_t now = Verilated::threadContextp()->time();

    Channel& r = p.reads;
    if (r.active) {
        if (r.addr_pending && arready) r.addr_pending = false;
        if (!r.addr_pending && rvalid) r.complete(uint32_t(rdata), uint32_t(rresp));
    } else if (r.starts(now)) {
        r.addr_pending = true;
    }

    Channel& w = p.writes;
    if (w.active) {
        if (w.addr_pending && awready) w.addr_pending = false;
        if (w.data_pending && wready) w.data_pending = false;
        if (!w.addr_pending && !w.data_pending && bvalid) w.complete(0, uint32_t(bresp));
    } else if (w.starts(now)) {
        w.addr_pending = w.data_pending = true;
    }

    *arvalid = r.active && r.addr_pending;
    *araddr = int(r.current.addr);
    *arprot = int(r.current.prot);
    *awvalid = w.active && w.addr_pending;
    *wvalid = w.active && w.data_pending;
    *awaddr = int(w.current.addr);
    *awprot = int(w.current.prot);
    *wdata = int(w.current.data);
    *wstrb = int(w.current.strb);
    *reads_done = int(r.completed);
    *writes_done = int(w.completed);
}

// The harness's side, through ctypes.

uint64_t tinynpu_axil_post(int port, int write, uint32_t addr, uint32_t data, uint32_t strb,
                           uint32_t prot, uint64_t now, uint32_t delay) {
    Port& p = ports[port];
    const uint64_t ticket = p.next_ticket++;
    (write ? p.writes : p.reads).queue.push_back(Access{ticket, addr, data, strb, prot, now, delay});
    return ticket;
}

// 1 and the access's data and response once it completed (and forgets it); else 0.
int tinynpu_axil_take(int port, int write, uint64_t ticket, uint32_t* data, uint32_t* resp) {
    Channel& c = write ? ports[port].writes : ports[port].reads;
    auto it = c.results.find(ticket);
    if (it == c.results.end()) return 0;
    *data = it->second.data;
    *resp = it->second.resp;
    c.results.erase(it);
    return 1;
}

void tinynpu_axil_cancel(int port, int write, uint64_t ticket) {
    (write ? ports[port].writes : ports[port].reads).cancel(ticket);
}

}  // extern "C"
