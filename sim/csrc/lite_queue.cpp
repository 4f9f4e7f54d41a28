// The queue of a processor model's register accesses, for the manager of sim/hdl/lite_queue.sv.
//
// The Python harness pushes loads and stores (tinynpu_lite_push, through ctypes) at any time, as
// many as it likes; the manager takes them one at a time, in order, at the rising edges it is free
// (tinynpu_lite_pop, through DPI) and reports each completion (tinynpu_lite_complete). A store
// costs the harness no wake: it only asks to be told of the accesses it waits for, a load's data
// or the last store before the processor sleeps (the notify flag, tinynpu_lite_notify). When a
// trace is kept, each access's completion is logged (time, direction, address, value, response) for the
// harness to collect at its next wake. The data of the latest loads stay readable, so a run of
// loads costs the harness one wake, at the last (tinynpu_lite_values).

#include <algorithm>
#include <cstdint>
#include <deque>
#include <vector>

#include "Vtop__Dpi.h"  // the prototypes Verilator derived from the shell's imports

double sc_time_stamp();  // the simulation's time, from the executable's main loop (cocotb's)

namespace {

constexpr int kPorts = 2;
constexpr int kSleep = 2;  // an entry's kind: 0 a load, 1 a store, 2 a sleep until the interrupt
constexpr uint32_t kKept = 1024;  // the latest loads whose data stays readable (tinynpu_lite_values)

struct Access {
    uint32_t seq;
    int kind;
    uint32_t addr, data, strb, delay;
    bool notify;
    double queued_at;  // simulation time of the push
};

struct Completion {  // as the harness reads it: five words and a time
    uint32_t seq, write, addr, value, resp;
    double time_ns;
};

struct Port {
    std::deque<Access> queue;
    Access current{};  // taken by the manager, not yet complete
    bool busy = false;
    bool withdrawn = false;  // the current access was given up before it was driven
    uint32_t next_seq = 1;
    bool logging = false;
    std::vector<Completion> log;
    uint32_t values[kKept] = {};  // a load's data, at its sequence number modulo kKept
    uint32_t told[3] = {};  // the latest access `done` told of: sequence number, data, response
};

Port ports[kPorts];

Port* port_at(int index) { return index >= 0 && index < kPorts ? &ports[index] : nullptr; }

}  // namespace

extern "C" {

// --- the harness's side (ctypes) ----------------------------------------------------------------

// Queue an access; return its sequence number (never 0), or 0 for a port that does not exist.
uint32_t tinynpu_lite_push(int index, int kind, uint32_t addr, uint32_t data, uint32_t strb,
                           uint32_t delay, int notify) {
    Port* port = port_at(index);
    if (port == nullptr) return 0;
    uint32_t seq = port->next_seq++;
    if (port->next_seq == 0) port->next_seq = 1;
    port->queue.push_back({seq, kind, addr, data, strb, delay, notify != 0, sc_time_stamp()});
    return seq;
}

// Whether an entry is queued or under way (not yet complete).
int tinynpu_lite_pending(int index) {
    Port* port = port_at(index);
    return port != nullptr && (port->busy || !port->queue.empty());
}

// Ask to be told (`done`) when access `seq` completes; 1 if it already has (or was withdrawn).
int tinynpu_lite_notify(int index, uint32_t seq) {
    Port* port = port_at(index);
    if (port == nullptr) return 1;
    if (port->busy && port->current.seq == seq) {
        port->current.notify = true;
        return 0;
    }
    for (Access& access : port->queue) {
        if (access.seq == seq) {
            access.notify = true;
            return 0;
        }
    }
    return 1;
}

// Give up access `seq`: dropped if still queued, or if taken but not yet driven.
void tinynpu_lite_withdraw(int index, uint32_t seq) {
    Port* port = port_at(index);
    if (port == nullptr) return;
    if (port->busy && port->current.seq == seq) {
        port->withdrawn = true;
        return;
    }
    for (auto it = port->queue.begin(); it != port->queue.end(); ++it) {
        if (it->seq == seq) {
            port->queue.erase(it);
            return;
        }
    }
}

// Drop every access not yet driven (a processor reset discards its store buffer).
void tinynpu_lite_clear(int index) {
    Port* port = port_at(index);
    if (port == nullptr) return;
    port->queue.clear();
    if (port->busy) port->withdrawn = true;
}

// Log completions (or stop, and forget what was logged).
void tinynpu_lite_logging(int index, int on) {
    if (Port* port = port_at(index)) {
        port->logging = on != 0;
        port->log.clear();
    }
}

// Move up to `max` logged completions to `words` (five each) and `times`; return how many.
int tinynpu_lite_collect(int index, uint32_t* words, double* times, int max) {
    Port* port = port_at(index);
    if (port == nullptr) return 0;
    int n = 0;
    for (; n < max && n < static_cast<int>(port->log.size()); ++n) {
        const Completion& c = port->log[n];
        uint32_t* out = words + 5 * n;
        out[0] = c.seq, out[1] = c.write, out[2] = c.addr, out[3] = c.value, out[4] = c.resp;
        times[n] = c.time_ns;
    }
    port->log.erase(port->log.begin(), port->log.begin() + n);
    return n;
}

// The data of the `n` loads from sequence number `first` on, completed and among the latest kKept
// (`n` <= kKept), to `out`; 0 if `n` is out of range.
int tinynpu_lite_values(int index, uint32_t first, int n, uint32_t* out) {
    Port* port = port_at(index);
    if (port == nullptr || n < 0 || static_cast<uint32_t>(n) > kKept) return 0;
    for (int i = 0; i < n; ++i) out[i] = port->values[(first + i) % kKept];
    return 1;
}

// The latest access `done` told of, to `out`: its sequence number, data (a load's) and response;
// what the manager's `tag`, `data` and `resp` show, without a read of the simulator's signals.
void tinynpu_lite_told(int index, uint32_t* out) {
    if (Port* port = port_at(index)) std::copy(port->told, port->told + 3, out);
}

// --- the manager's side (DPI) -------------------------------------------------------------------

int tinynpu_lite_pop(int index, int* seq, int* kind, int* addr, int* data, int* strb,
                     int* delay) {
    Port* port = port_at(index);
    if (port == nullptr || port->queue.empty()) return 0;
    // An access asked for in this time step waits for the next edge, as a request written to the
    // ports of lite_master.sv would: the harness may run before an edge's evaluation (woken by
    // the clock's rise) or after it (woken by an output), and either way the edge is past for it.
    if (port->queue.front().queued_at >= sc_time_stamp()) return 0;
    port->current = port->queue.front();
    port->queue.pop_front();
    port->busy = true;
    port->withdrawn = false;
    *seq = static_cast<int>(port->current.seq);
    *kind = port->current.kind;
    *addr = static_cast<int>(port->current.addr);
    *data = static_cast<int>(port->current.data);
    *strb = static_cast<int>(port->current.strb);
    *delay = static_cast<int>(port->current.delay);
    return 1;
}

int tinynpu_lite_withdrawn(int index) {
    Port* port = port_at(index);
    if (port == nullptr || !port->withdrawn) return 0;
    port->busy = port->withdrawn = false;
    return 1;
}

// The current entry completed with `value` (a load's data) and `resp`; 1 to raise `done` (never
// for a sleep, which is not logged either).
int tinynpu_lite_complete(int index, int value, int resp, double time_ns) {
    Port* port = port_at(index);
    if (port == nullptr) return 0;
    const Access& access = port->current;
    port->busy = false;
    if (access.kind == kSleep) return 0;
    bool write = access.kind == 1;
    if (!write) port->values[access.seq % kKept] = static_cast<uint32_t>(value);
    if (port->logging) {
        uint32_t read = static_cast<uint32_t>(value);
        port->log.push_back({access.seq, static_cast<uint32_t>(write), access.addr,
                             write ? access.data : read, static_cast<uint32_t>(resp), time_ns});
    }
    if (!access.notify) return 0;
    port->told[0] = access.seq, port->told[1] = static_cast<uint32_t>(value);
    port->told[2] = static_cast<uint32_t>(resp);
    return 1;
}

}  // extern "C"
