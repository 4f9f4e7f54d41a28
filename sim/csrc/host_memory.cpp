// Host memory on the NPU's AXI4 manager port, inside the Verilated model.
//
// The SystemVerilog shell (sim/hdl/host_memory.sv) calls host_memory_edge() once per rising
// clock edge with the port's inputs as they were before the edge, and registers the outputs it
// returns. The model is the transaction model the harness used before it moved into the
// simulator (cocotbext-axi's AxiRam) replayed cycle for cycle, so every simulated cycle count
// stays what it was:
//
// - AR, AW and W are sinks with a two-entry queue: ready after an edge unless two entries wait;
// - a read burst's beats are read from memory in order, each staged before it waits for room in
//   the two-entry R queue; the R source drives the next beat at the edge after it was queued, and
//   one beat per edge while RREADY is high;
// - a write beat is stored as soon as it and its burst's AW have arrived; the response goes to a
//   two-entry B queue after the last beat, and out at the next edge.
//
// Configuration adds latency and spacing on top of that: read_latency edges between taking a
// read burst and staging its first beat, write_latency edges before a write response, and
// beat_interval edges between beats of a read burst. The defaults (0, 0, 1) are the model above.
//
// The backing store belongs to the Python harness (an mmap); it hands over the pointer with
// tinynpu_host_memory_attach(), so the host's loads and stores and the NPU's beats see one memory.
// Fault rules answer matching beats with SLVERR or DECERR (a refused read beat carries zeros, a
// refused write beat stores its byte lanes up to the first refused lane run and nothing after),
// delay matching bursts by some edges, or flip bits of one byte as a beat crosses the port (the
// memory keeps what a read found; a write stores the flipped byte).

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <deque>
#include <vector>

#include "Vtop__Dpi.h"  // the prototypes Verilator derived from the shell's imports

namespace {

constexpr int kMaxWords = 32;  // data words (32 bits) in the widest bus: 1,024 bits
constexpr int kResp_OKAY = 0;
constexpr int kResp_SLVERR = 2;

struct Request {  // an AR or AW
    uint32_t id;
    uint64_t addr;
    uint32_t len;    // beats - 1
    uint32_t size;   // log2 bytes per beat
    uint32_t burst;  // 0 FIXED, 1 INCR, 2 WRAP
};

struct Beat {  // an R beat
    uint32_t id;
    uint32_t data[kMaxWords];
    uint32_t resp;
    bool last;
};

struct WBeat {
    uint32_t data[kMaxWords];
    uint32_t strb[kMaxWords / 8 + 1];
    bool last;
};

struct Response {  // a B
    uint32_t id;
    uint32_t resp;
};

// What a rule does to the beats (or bursts) it matches.
enum Action : uint32_t {
    kRefuse = 0,  // answer the beat with value: SLVERR (2) or DECERR (3)
    kDelay = 1,   // hold the burst value more edges: before its first read beat, or its response
    kFlip = 2,    // XOR the byte at start with value, as the beat crosses the port
};

struct Rule {
    bool write;
    uint32_t id_mask, id_value;
    uint64_t start, end;  // byte range [start, end)
    uint64_t skip;        // matching beats (bursts, for kDelay) to let through first
    int64_t shots;        // matching ones to act on after that; negative: every one
    Action action;
    uint32_t value;
};

enum Stat {
    kReadBursts, kReadBeats, kWriteBursts, kWriteBeats, kRefusedReads, kRefusedWrites,
    kProtocolErrors, kStats
};

// Walks the addresses of a burst's beats (AXI4 A3.4.1).
struct Cursor {
    Request req;
    uint32_t beat = 0;
    uint64_t addr = 0;
    uint64_t wrap_lo = 0, wrap_hi = 0;

    void start(const Request& r) {
        req = r;
        beat = 0;
        const uint64_t bytes = uint64_t(1) << r.size;
        addr = r.addr / bytes * bytes;
        const uint64_t total = bytes * (r.len + 1);
        wrap_lo = r.addr / total * total;
        wrap_hi = wrap_lo + total;
    }
    bool last() const { return beat == req.len; }
    void next() {
        ++beat;
        if (req.burst == 0) return;
        addr += uint64_t(1) << req.size;
        if (req.burst == 2 && addr == wrap_hi) addr = wrap_lo;
    }
};

// A sink of one channel: valid/ready with a queue of two.
template <typename T>
struct Sink {
    std::deque<T> queue;
    bool ready = false;
    void edge(bool valid, const T& sampled) {
        if (ready && valid) queue.push_back(sampled);
        ready = queue.size() < 2;
    }
};

// A source of one channel: drives the next queued item when the last one was taken.
template <typename T>
struct Source {
    std::deque<T> queue;
    T out{};
    bool valid = false;
    void edge(bool ready) {
        if (valid && !ready) return;
        if (queue.empty()) {
            valid = false;
        } else {
            out = queue.front();
            queue.pop_front();
            valid = true;
        }
    }
    bool full() const { return queue.size() >= 2; }
};

class HostMemory {
  public:
    uint8_t* base = nullptr;
    uint64_t size = 0;
    uint32_t read_latency = 0, write_latency = 0, beat_interval = 1;
    std::vector<Rule> rules;
    uint64_t stats[kStats] = {};

    void reset() {
        ar = {};
        aw = {};
        w = {};
        r = {};
        b = {};
        reading = staged = writing = false;
        beat_due = b_due = 0;
    }

    void edge(bool rst, bool arvalid, const Request& ar_in, bool rready, bool awvalid,
              const Request& aw_in, bool wvalid, const WBeat& w_in, bool bready, int lanes) {
        ++now;
        if (rst) {
            reset();
            return;
        }
        // The channels first, on the values before the edge; then the two processes, which see
        // what the channels did at this edge.
        ar.edge(arvalid, ar_in);
        r.edge(rready);
        aw.edge(awvalid, aw_in);
        w.edge(wvalid, w_in);
        b.edge(bready);
        run_reads(lanes);
        run_writes(lanes);
    }

    Sink<Request> ar, aw;
    Sink<WBeat> w;
    Source<Beat> r;
    Source<Response> b;

  private:
    uint64_t now = 0;
    // The read process: the burst it walks, and the beat it has read and waits to queue.
    bool reading = false, staged = false;
    Cursor rd;
    Beat beat{};
    uint64_t beat_due = 0;
    // The write process, and the edge from which its response may be queued.
    bool writing = false;
    Cursor wr;
    uint32_t bresp = kResp_OKAY;
    uint64_t b_due = 0;

    // The first armed rule of ``action`` matching an access at [addr, addr + len), its shot
    // spent; nullptr if none.
    Rule* match(Action action, bool write, uint32_t id, uint64_t addr, uint64_t len) {
        for (Rule& rule : rules) {
            if (rule.action != action || rule.write != write) continue;
            if ((id & rule.id_mask) != rule.id_value) continue;
            if (!(addr < rule.end && rule.start < addr + len)) continue;
            if (rule.skip) {
                --rule.skip;
                continue;
            }
            if (rule.shots == 0) continue;
            if (rule.shots > 0) --rule.shots;
            return &rule;
        }
        return nullptr;
    }

    // The answer to a beat at [addr, addr + len): the first refusing rule's, or OKAY.
    uint32_t check(bool write, uint32_t id, uint64_t addr, uint64_t len) {
        if (addr + len > size || base == nullptr) return kResp_SLVERR;
        const Rule* rule = rules.empty() ? nullptr : match(kRefuse, write, id, addr, len);
        return rule ? rule->value : kResp_OKAY;
    }

    // Extra edges a burst of ``req`` waits, from the first delaying rule matching its start.
    uint64_t delay(bool write, const Request& req) {
        if (rules.empty()) return 0;
        const Rule* rule = match(kDelay, write, req.id, req.addr, 1);
        return rule ? rule->value : 0;
    }

    // Apply the flipping rule matching the bytes [addr, addr + len) at ``data``, if any.
    void flip(bool write, uint32_t id, uint64_t addr, uint64_t len, uint8_t* data) {
        if (rules.empty()) return;
        if (const Rule* rule = match(kFlip, write, id, addr, len))
            data[rule->start - addr] ^= uint8_t(rule->value);
    }

    void run_reads(int lanes) {
        for (;;) {
            if (!staged) {
                if (!reading) {
                    if (ar.queue.empty()) return;
                    rd.start(ar.queue.front());
                    ar.queue.pop_front();
                    reading = true;
                    ++stats[kReadBursts];
                    beat_due = std::max(beat_due, now + read_latency + delay(false, rd.req));
                    if (uint64_t(1) << rd.req.size > uint64_t(lanes)) ++stats[kProtocolErrors];
                    if (rd.req.burst == 1 && (rd.addr & 0xFFF) + (rd.req.len + 1) * (uint64_t(1) << rd.req.size) > 0x1000)
                        ++stats[kProtocolErrors];
                }
                if (now < beat_due) return;
                read_beat(lanes);
                staged = true;
                // Back to back (1), the next beat is read at once and waits for room in the queue.
                beat_due = now + (beat_interval > 1 ? beat_interval : 0);
                if (rd.last()) reading = false; else rd.next();
            }
            if (r.full()) return;
            r.queue.push_back(beat);
            staged = false;
        }
    }

    void read_beat(int lanes) {
        const uint64_t word = rd.addr / lanes * lanes;
        beat.id = rd.req.id;
        beat.last = rd.last();
        std::memset(beat.data, 0, sizeof beat.data);
        beat.resp = check(false, rd.req.id, word, lanes);
        ++stats[kReadBeats];
        if (beat.resp == kResp_OKAY) {
            std::memcpy(beat.data, base + word, lanes);
            flip(false, rd.req.id, word, lanes, reinterpret_cast<uint8_t*>(beat.data));
        } else {
            ++stats[kRefusedReads];
        }
    }

    void run_writes(int lanes) {
        for (;;) {
            if (!writing) {
                if (aw.queue.empty()) return;
                wr.start(aw.queue.front());
                aw.queue.pop_front();
                writing = true;
                bresp = kResp_OKAY;
                ++stats[kWriteBursts];
            }
            if (wr.beat <= wr.req.len) {
                if (w.queue.empty()) return;
                const WBeat in = w.queue.front();
                w.queue.pop_front();
                write_beat(in, lanes);
                if (in.last != wr.last()) ++stats[kProtocolErrors];
                wr.next();
                if (wr.beat > wr.req.len) b_due = now + write_latency + delay(true, wr.req);
                continue;
            }
            if (b.full() || now < b_due) return;
            b.queue.push_back(Response{wr.req.id, bresp});
            writing = false;
        }
    }

    // The beat's enabled byte lanes, one contiguous run at a time, as the transaction model did:
    // a refused run ends the beat's stores.
    void write_beat(const WBeat& in, int lanes) {
        const uint64_t word = wr.addr / lanes * lanes;
        const uint8_t* data = reinterpret_cast<const uint8_t*>(in.data);
        ++stats[kWriteBeats];
        int lane = 0;
        while (lane < lanes) {
            if (!((in.strb[lane / 32] >> (lane % 32)) & 1)) {
                ++lane;
                continue;
            }
            int end = lane;
            while (end < lanes && ((in.strb[end / 32] >> (end % 32)) & 1)) ++end;
            const uint32_t resp = check(true, wr.req.id, word + lane, end - lane);
            if (resp != kResp_OKAY) {
                bresp = resp;
                ++stats[kRefusedWrites];
                return;
            }
            uint8_t run[sizeof in.data];
            std::memcpy(run, data + lane, end - lane);
            flip(true, wr.req.id, word + lane, end - lane, run);
            std::memcpy(base + word + lane, run, end - lane);
            lane = end;
        }
    }
};

// One SoC, one memory: the simulator process runs a single model.
HostMemory memory;

Request request(int id, long long addr, int len, int size, int burst) {
    return Request{uint32_t(id), uint64_t(addr), uint32_t(len), uint32_t(size), uint32_t(burst)};
}

}  // namespace

extern "C" {

// Called from the SystemVerilog shell at every rising edge of the clock.
void tinynpu_host_memory_edge(
    svBit rst, int lanes,
    svBit arvalid, int arid, long long araddr, int arlen, int arsize, int arburst, svBit rready,
    svBit awvalid, int awid, long long awaddr, int awlen, int awsize, int awburst,
    svBit wvalid, const svBitVecVal* wdata, const svBitVecVal* wstrb, svBit wlast, svBit bready,
    svBit* arready, svBit* rvalid, int* rid, svBitVecVal* rdata, int* rresp, svBit* rlast,
    svBit* awready, svBit* wready, svBit* bvalid, int* bid, int* bresp) {
    WBeat w{};
    std::memcpy(w.data, wdata, lanes);
    std::memcpy(w.strb, wstrb, (lanes + 7) / 8);
    w.last = wlast;
    memory.edge(rst, arvalid, request(arid, araddr, arlen, arsize, arburst), rready, awvalid,
                request(awid, awaddr, awlen, awsize, awburst), wvalid, w, bready, lanes);
    *arready = memory.ar.ready;
    *awready = memory.aw.ready;
    *wready = memory.w.ready;
    *rvalid = memory.r.valid;
    *rid = int(memory.r.out.id);
    *rresp = int(memory.r.out.resp);
    *rlast = memory.r.out.last;
    std::memcpy(rdata, memory.r.out.data, (lanes + 3) / 4 * 4);
    *bvalid = memory.b.valid;
    *bid = int(memory.b.out.id);
    *bresp = int(memory.b.out.resp);
}

// The harness's side, through ctypes: the simulator executable exports these symbols.

void tinynpu_host_memory_attach(uint8_t* base, uint64_t size) {
    memory.base = base;
    memory.size = size;
    memory.rules.clear();
    std::memset(memory.stats, 0, sizeof memory.stats);
    memory.reset();
}

int tinynpu_host_memory_timing(uint32_t read_latency, uint32_t write_latency,
                               uint32_t beat_interval) {
    if (beat_interval < 1) return -1;
    memory.read_latency = read_latency;
    memory.write_latency = write_latency;
    memory.beat_interval = beat_interval;
    return 0;
}

int tinynpu_host_memory_add_rule(int write, uint32_t id_mask, uint32_t id_value, uint64_t start,
                                 uint64_t end, uint64_t skip, int64_t shots, uint32_t action,
                                 uint32_t value) {
    if (action > kFlip) return -1;
    memory.rules.push_back(
        Rule{write != 0, id_mask, id_value, start, end, skip, shots, Action(action), value});
    return 0;
}

void tinynpu_host_memory_clear_rules() { memory.rules.clear(); }

int tinynpu_host_memory_stats(uint64_t* out, int n) {
    for (int i = 0; i < n && i < kStats; ++i) out[i] = memory.stats[i];
    return kStats;
}

}  // extern "C"
