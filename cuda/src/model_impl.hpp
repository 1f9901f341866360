// The state behind rbm::model (its parameters, workspaces, generator, graphs) and the CD step's
// sequence, shared by model.cpp (the CD-k step) and model_labels.cpp (the label group's step).
// Private to cuda/src.
#pragma once

#include <cuda_runtime_api.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "rbm/curand_generator.hpp"
#include "rbm/error.hpp"
#include "rbm/kernels.hpp"
#include "rbm/model.hpp"

namespace rbm {

struct model::impl {
  model_options opt;
  stream_view s;
  int nv, nh;
  device_buffer<float> w, vb, hb, vel_w, vel_vb, vel_hb;
  device_buffer<float> v0, h0p, h0s, vs, hp, hs, chain, u;
  device_buffer<float> sigma, s0, ss;  // Gaussian visible units: sigma [nv]; v0 / sigma, vs / sigma
  device_buffer<float> xsig, gsig, vel_log_sigma;  // learned sigma: h W^T [b, nv], its gradient [nv], momentum [nv]
  // Adam (cd.update_rule): the gradient of W [nv, nh], the second moments beside vel_* (the first),
  // the update count and this update's rate in device memory (adam_advance), so a captured step stays valid.
  bool adam;
  device_buffer<float> grad_w, sq_w, sq_vb, sq_hb, sq_log_sigma, adam_rate;
  device_buffer<std::uint64_t> adam_t;
  bool gauss, learn_sigma;
  int sites = 0;  // categorical visible units: nv / cd.states sites of cd.states one-hot units (else 0)
  // Parallel tempering (cd.tempering = replicas > 1): every chain's replicas [chains x replicas, .],
  // chain-major: visible and hidden states (persistent), the hidden layer's unscaled input a = hb + v' W
  // and its tempered means, v / sigma where scaled, the swaps' energies, and a zero bias.
  int replicas = 1;
  device_buffer<float> tv, th, ta, tx, tview, zero_h;
  device_buffer<double> tg;
  bool sigma_is_one;  // every sigma 1 and fixed (as until set_sigma): v / sigma is v, no scaling pass
  device_buffer<double> err_acc;  // [1]
  model::gradient_hook hook;                // set_gradient_hook: the update split around it
  device_buffer<float> grad_vb, grad_hb;    // with a hook: the biases' gradients (W's in grad_w)
  cublas_handle blas;
  philox_generator gen;
  int chains = 0;                 // PCD chains seeded so far
  std::uint64_t pixels = 0;
  std::uint64_t rng_position = 0;  // uniforms drawn from `gen` so far
  std::map<int, cuda_graph> graphs;  // steady-state step per batch size
  std::set<int> ran_eagerly;         // batch sizes whose step has run once outside a capture
  // A label group (set_label_group; model_labels.cpp): its parameters, momentum and the step's
  // workspace, allocated when it is first set.
  int classes = 0;
  device_buffer<float> label_w, label_b, vel_label_w, vel_label_b;  // [classes, nh], [classes]
  device_buffer<float> sq_label_w, sq_label_b;                      // Adam's second moments (else empty)
  device_buffer<float> lpre, lh0p, lg, ld, lly, lu;                 // x W, h0 probs, disc terms, h U^T, uniforms
  device_buffer<float> lgrad_w, lgrad_b, lgrad_c;                   // the gradient sums
  device_buffer<int> lys;                                           // the chain's labels
  device_buffer<double> loss_acc;                                   // [1]: sum of -log p(y | x)
  std::uint64_t class_rows = 0;                                     // rows behind loss_acc

  impl(const model_options& o, stream_view st)
      : opt(o), s(st), nv(o.cd.nv), nh(o.cd.nh),
        w(std::size_t(nv) * nh, st), vb(nv, st), hb(nh, st),
        vel_w(std::size_t(nv) * nh, st), vel_vb(nv, st), vel_hb(nh, st),
        v0(std::size_t(o.max_batch) * nv, st), h0p(std::size_t(o.max_batch) * nh, st),
        h0s(std::size_t(o.max_batch) * nh, st), vs(std::size_t(o.max_batch) * nv, st),
        hp(std::size_t(o.max_batch) * nh, st), hs(std::size_t(o.max_batch) * nh, st),
        chain(o.cd.pcd ? std::size_t(o.max_batch) * nh : 0, st),
        u(make_draw_layout(o.max_batch, o.cd).total(), st),
        sigma(o.cd.visible == unit_kind::gaussian ? std::size_t(nv) : 0, st),
        s0(o.cd.visible == unit_kind::gaussian ? std::size_t(o.max_batch) * nv : 0, st),
        ss(o.cd.visible == unit_kind::gaussian ? std::size_t(o.max_batch) * nv : 0, st),
        xsig(o.cd.learn_sigma ? std::size_t(o.max_batch) * nv : 0, st), gsig(o.cd.learn_sigma ? nv : 0, st),
        vel_log_sigma(o.cd.learn_sigma ? nv : 0, st), adam(o.cd.update_rule == optimizer::adam),
        grad_w(adam ? std::size_t(nv) * nh : 0, st), sq_w(adam ? std::size_t(nv) * nh : 0, st), sq_vb(adam ? nv : 0, st),
        sq_hb(adam ? nh : 0, st), sq_log_sigma(adam && o.cd.learn_sigma ? nv : 0, st), adam_rate(adam ? 1 : 0, st),
        adam_t(adam ? 1 : 0, st), gauss(o.cd.visible == unit_kind::gaussian),
        learn_sigma(o.cd.learn_sigma), sites(o.cd.visible == unit_kind::categorical ? nv / o.cd.states : 0),
        sigma_is_one(!o.cd.learn_sigma), err_acc(1, st), blas(st),
        gen(philox_generator::where::device, o.cd.seed, 0, st.get()) {
    for (auto* b : {&w, &vb, &hb, &vel_w, &vel_vb, &vel_hb, &vel_log_sigma, &sq_w, &sq_vb, &sq_hb, &sq_log_sigma})
      if (b->size() > 0) RBM_CUDA_CHECK(cudaMemsetAsync(b->data(), 0, b->size() * sizeof(float), s.get()));
    if (adam) RBM_CUDA_CHECK(cudaMemsetAsync(adam_t.data(), 0, sizeof(std::uint64_t), s.get()));
    if (gauss) {  // sigma = 1 until set_sigma
      const std::vector<float> ones(nv, 1.0f);
      RBM_CUDA_CHECK(cudaMemcpyAsync(sigma.data(), ones.data(), nv * sizeof(float), cudaMemcpyHostToDevice, s.get()));
      s.synchronize();  // the host vector goes out of scope
    }
    RBM_CUDA_CHECK(cudaMemsetAsync(err_acc.data(), 0, sizeof(double), s.get()));
    replicas = replicas_of(o.cd);
    if (replicas > 1) {
      const std::size_t m = std::size_t(o.max_batch) * replicas;
      tv = device_buffer<float>(m * nv, st);
      th = device_buffer<float>(m * nh, st);
      ta = device_buffer<float>(m * nh, st);
      tx = device_buffer<float>(m * nh, st);
      if (gauss) tview = device_buffer<float>(m * nv, st);
      tg = device_buffer<double>(m, st);
      zero_h = device_buffer<float>(nh, st);
      RBM_CUDA_CHECK(cudaMemsetAsync(zero_h.data(), 0, std::size_t(nh) * sizeof(float), s.get()));
    }
  }

  // Work still queued on the caller's stream reads the parameters and workspaces and uses the graphs,
  // the generator and the cuBLAS handle: let it finish before any of them goes (members are destroyed
  // after this body). Errors cannot be reported from a destructor.
  ~impl() { cudaStreamSynchronize(s.get()); }
  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;

  // out [rows, nh] = v W (pre-activation).
  void forward(const float* v, int rows, float* out) {
    gemm_row_major(blas, opt.mode, false, false, rows, nh, nv, 1.0f, v, nv, w.data(), nh, 0.0f, out, nh);
  }
  // out [rows, nv] = h W^T.
  void backward(const float* h, int rows, float* out) {
    gemm_row_major(blas, opt.mode, false, true, rows, nv, nh, 1.0f, h, nh, w.data(), nh, 0.0f, out, nv);
  }

  // The fixed sequence of one update; `seed_chains` marks the PCD steps that must first copy freshly
  // sampled h0 rows into chains that do not exist yet (never part of a captured graph).
  void bernoulli_only(const char* what) const {
    if (gauss || sites > 0)
      throw precondition_error(std::string("rbm::model::") + what +
                               " is implemented for Bernoulli visible units only so far (this model's are " +
                               to_string(opt.cd.visible) + ")");
  }

  // The visible layer of a Gibbs step: x [rows, nv] holding h W^T becomes a draw from p(v | h) with
  // the uniforms (or normals) at `draws`: Gaussian means (+ sigma times the normals when sampled),
  // each categorical site's state, or Bernoulli states; with `draws` null, the means.
  void draw_visible(float* x, int rows, const float* draws, bool sampled) {
    if (gauss)
      gaussian_visible(x, vb.data(), sigma.data(), sampled ? draws : nullptr, rows, nv, s);
    else if (sites > 0)
      categorical_sample(x, vb.data(), draws, rows, sites, opt.cd.states, s);
    else
      sigmoid_sample(x, vb.data(), draws, x, draws != nullptr ? x : nullptr, rows, nv, s);
  }

  // What the hidden layer sees of visible rows v: v, or (Gaussian units) v / sigma written to `scaled`.
  const float* hidden_view(const float* v, int rows, float* scaled) {
    if (!gauss || sigma_is_one) return v;
    scale_by_sigma(v, sigma.data(), rows, nv, scaled, s);
    return scaled;
  }

  void enqueue_step(int rows, bool seed_chains) {
    const cd_config& c = opt.cd;
    const std::size_t bh = std::size_t(rows) * nh;
    const cd_draw_layout lay = make_draw_layout(rows, c);
    forward(hidden_view(v0.data(), rows, s0.data()), rows, h0p.data());
    hidden_sample(c.hidden, h0p.data(), hb.data(), u.data() + lay.h0(), h0p.data(), h0s.data(), rows, nh, s);
    if (replicas > 1) {
      enqueue_tempered_chains(rows, seed_chains, lay);
      return enqueue_update(rows, hs.data());
    }
    float* h = h0s.data();
    float* hout = hs.data();
    if (c.pcd) {
      if (seed_chains) {
        const std::size_t from = std::size_t(chains) * nh;
        RBM_CUDA_CHECK(cudaMemcpyAsync(chain.data() + from, h0s.data() + from, (bh - from) * sizeof(float),
                                       cudaMemcpyDeviceToDevice, s.get()));
      }
      h = hout = chain.data();  // the chain is read, then overwritten, in place
    }
    const std::size_t bv = std::size_t(rows) * nv;
    for (int step = 0; step < c.k; ++step) {
      backward(h, rows, vs.data());
      draw_visible(vs.data(), rows, u.data() + lay.v(step), c.visible_sample);
      if (step == 0) accumulate_squared_error(v0.data(), vs.data(), bv, err_acc.data(), s);
      forward(hidden_view(vs.data(), rows, ss.data()), rows, hp.data());
      hidden_sample(c.hidden, hp.data(), hb.data(), u.data() + lay.h(step), hp.data(), hout, rows, nh, s);
      h = hout;
    }
    enqueue_update(rows, h);
  }

  // Parallel tempering's negative phase (the CPU's tempered_chains): new chains seeded with their data
  // row and h0 at every temperature, the data's mean-field reconstruction error, k sweeps of every
  // replica at its own beta, the beta = 1 replicas' states and means as vs, hs and hp (ss = vs / sigma
  // where scaled), then the swaps.
  void enqueue_tempered_chains(int rows, bool seed_chains, const cd_draw_layout& lay) {
    const cd_config& c = opt.cd;
    const int m = rows * replicas;
    const bool scaled = gauss && !sigma_is_one;
    if (seed_chains) seed_replicas(v0.data(), h0s.data(), chains, rows, replicas, nv, nh, tv.data(), th.data(), s);
    backward(h0p.data(), rows, vs.data());
    draw_visible(vs.data(), rows, nullptr, false);  // E[v | E[h | v0]]
    accumulate_squared_error(v0.data(), vs.data(), std::size_t(rows) * nv, err_acc.data(), s);
    for (int step = 0; step < c.k; ++step) {
      backward(th.data(), m, tv.data());
      tempered_scale(tv.data(), m, nv, replicas, s);
      draw_visible(tv.data(), m, u.data() + lay.v(step), c.visible_sample);
      if (scaled) scale_by_sigma(tv.data(), sigma.data(), m, nv, tview.data(), s);
      forward(scaled ? tview.data() : tv.data(), m, ta.data());
      tempered_hidden_input(ta.data(), hb.data(), tx.data(), m, nh, replicas, s);
      hidden_sample(c.hidden, tx.data(), zero_h.data(), u.data() + lay.h(step), tx.data(), th.data(), m, nh, s);
    }
    const auto top_rows = [&](float* dst, const float* src, int cols) {  // every chain's beta = 1 replica
      RBM_CUDA_CHECK(cudaMemcpy2DAsync(dst, std::size_t(cols) * sizeof(float),
                                       src + std::size_t(replicas - 1) * cols, std::size_t(replicas) * cols * sizeof(float),
                                       std::size_t(cols) * sizeof(float), std::size_t(rows), cudaMemcpyDeviceToDevice,
                                       s.get()));
    };
    top_rows(vs.data(), tv.data(), nv);
    top_rows(hp.data(), tx.data(), nh);
    top_rows(hs.data(), th.data(), nh);
    if (scaled) scale_by_sigma(vs.data(), sigma.data(), rows, nv, ss.data(), s);
    tempered_swaps(ta.data(), tv.data(), th.data(), tg.data(), u.data() + lay.swap(), rows, replicas, nv, nh, s);
  }

  // The update after the chain of enqueue_step: W, the biases (and sigma) moved by SGD with momentum
  // or by Adam; h the chain's last hidden states.
  void enqueue_update(int rows, const float* h) {
    if (hook) return enqueue_split_update(rows, h);
    const cd_config& c = opt.cd;
    const float scale = (c.sum_weight_gradient ? 1.0f : 1.0f / rows) * (adam ? 1.0f : c.lr);
    const std::size_t nw = std::size_t(nv) * nh;
    // SGD accumulates the weight gradient onto the momentum (vel = momentum * vel + scale * ...), Adam
    // writes it alone.
    weight_gradient(rows, scale, adam ? 0.0f : c.momentum, adam ? grad_w.data() : vel_w.data());
    if (learn_sigma) enqueue_sigma_gradient(rows);
    const auto [hpos, hneg] = hidden_phases(h);
    if (adam) {
      adam_advance(c.lr, adam_t.data(), adam_rate.data(), s);
      adam_weight_step(w.data(), grad_w.data(), vel_w.data(), sq_w.data(), nw, 1.0f, adam_rate.data(),
                       c.lr * c.weight_decay, s);
      adam_bias_update(v0.data(), vs.data(), nullptr, rows, nv, 0.0f, 0.0f, gauss ? sigma.data() : nullptr, 1.0f,
                       adam_rate.data(), vel_vb.data(), sq_vb.data(), vb.data(), s);
      if (learn_sigma)  // after vb's step, which divides by the old sigma
        adam_log_sigma_step(gsig.data(), nv, rows, adam_rate.data(), c.sigma_floor, vel_log_sigma.data(),
                            sq_log_sigma.data(), sigma.data(), s);
      adam_bias_update(hpos, hneg, h0p.data(), rows, nh, c.sparsity_target, c.sparsity_cost, nullptr, 1.0f,
                       adam_rate.data(), vel_hb.data(), sq_hb.data(), hb.data(), s);
      return;
    }
    apply_weight_step(w.data(), vel_w.data(), nw, c.lr * c.weight_decay, s);
    bias_update(v0.data(), vs.data(), nullptr, rows, nv, c.lr, c.momentum, 0.0f, 0.0f, gauss ? sigma.data() : nullptr,
                vel_vb.data(), vb.data(), s);
    if (learn_sigma)  // after vb's step, which divides by the old sigma
      log_sigma_step(gsig.data(), nv, rows, c.lr, c.momentum, c.sigma_floor, vel_log_sigma.data(), sigma.data(), s);
    bias_update(hpos, hneg, h0p.data(), rows, nh, c.lr, c.momentum, c.sparsity_target, c.sparsity_cost,
                vel_hb.data(), hb.data(), s);
  }

  // Learned sigma's gradient summed over the rows into gsig: both phases' terms with the parameters
  // before the update, as the CPU's.
  void enqueue_sigma_gradient(int rows) {
    backward(h0p.data(), rows, xsig.data());
    sigma_gradient(v0.data(), xsig.data(), vb.data(), sigma.data(), rows, nv, 1.0f, false, gsig.data(), s);
    backward(hp.data(), rows, xsig.data());
    sigma_gradient(vs.data(), xsig.data(), vb.data(), sigma.data(), rows, nv, -1.0f, true, gsig.data(), s);
  }

  // The update with a gradient hook: the mean gradient into grad_w, grad_vb and grad_hb (and learned
  // sigma's into gsig), the hook,
  // then SGD with momentum and decay (vel = momentum vel + lr g; W also - lr decay W) or Adam on what
  // it left there, as the CPU's cd_gradient_part / cd_apply_part.
  void enqueue_split_update(int rows, const float* h) {
    const cd_config& c = opt.cd;
    const float decay = c.lr * c.weight_decay;
    const std::size_t nw = std::size_t(nv) * nh;
    weight_gradient(rows, c.sum_weight_gradient ? 1.0f : 1.0f / rows, 0.0f, grad_w.data());
    bias_gradient(v0.data(), vs.data(), nullptr, rows, nv, 0.0f, 0.0f, gauss ? sigma.data() : nullptr, grad_vb.data(), s);
    const auto [hpos, hneg] = hidden_phases(h);
    bias_gradient(hpos, hneg, h0p.data(), rows, nh, c.sparsity_target, c.sparsity_cost, nullptr, grad_hb.data(), s);
    if (learn_sigma) {  // the batch mean of log sigma's gradient, as the CPU's grad_log_sigma
      enqueue_sigma_gradient(rows);
      scale_values(gsig.data(), std::size_t(nv), 1.0f / rows, s);
    }
    hook(model::gradient{grad_w.data(), grad_vb.data(), grad_hb.data(), learn_sigma ? gsig.data() : nullptr, nv, nh,
                         rows, s});
    if (adam) {
      adam_advance(c.lr, adam_t.data(), adam_rate.data(), s);
      adam_weight_step(w.data(), grad_w.data(), vel_w.data(), sq_w.data(), nw, 1.0f, adam_rate.data(), decay, s);
      adam_weight_step(vb.data(), grad_vb.data(), vel_vb.data(), sq_vb.data(), std::size_t(nv), 1.0f, adam_rate.data(),
                       0.0f, s);
      if (learn_sigma)  // the mean already: a "batch" of one row
        adam_log_sigma_step(gsig.data(), nv, 1, adam_rate.data(), c.sigma_floor, vel_log_sigma.data(),
                            sq_log_sigma.data(), sigma.data(), s);
      adam_weight_step(hb.data(), grad_hb.data(), vel_hb.data(), sq_hb.data(), std::size_t(nh), 1.0f, adam_rate.data(),
                       0.0f, s);
      return;
    }
    momentum_step(grad_w.data(), nw, c.lr, c.momentum, decay, vel_w.data(), w.data(), s);
    momentum_step(grad_vb.data(), std::size_t(nv), c.lr, c.momentum, 0.0f, vel_vb.data(), vb.data(), s);
    if (learn_sigma)
      log_sigma_step(gsig.data(), nv, 1, c.lr, c.momentum, c.sigma_floor, vel_log_sigma.data(), sigma.data(), s);
    momentum_step(grad_hb.data(), std::size_t(nh), c.lr, c.momentum, 0.0f, vel_hb.data(), hb.data(), s);
  }

  // The joint chain's visible rows as the hidden layer read them: vs, or vs / sigma (written by the
  // chain's hidden_view into ss) for Gaussian units; the data rows likewise (v0, or s0 = v0 / sigma).
  const float* chain_view() const { return gauss && !sigma_is_one ? ss.data() : vs.data(); }
  const float* data_view() const { return gauss && !sigma_is_one ? s0.data() : v0.data(); }

  // into [nv, nh] = scale (data_view^T h0p - chain_view^T hp) + beta into: the CD weight gradient's two
  // GEMMs (the hidden layer's view of each visible row paired with its hidden means).
  void weight_gradient(int rows, float scale, float beta, float* into) {
    gemm_row_major(blas, opt.mode, true, false, nv, nh, rows, scale, data_view(), nv, h0p.data(), nh, beta, into, nh);
    gemm_row_major(blas, opt.mode, true, false, nv, nh, rows, -scale, chain_view(), nv, hp.data(), nh, 1.0f, into, nh);
  }

  // The hidden biases' positive and negative statistics: the means h0p and hp, or (the tutorial's rule,
  // cd.hidden_bias_from_states) the states h0s and h, the chain's last hidden states.
  std::pair<const float*, const float*> hidden_phases(const float* h) const {
    if (opt.cd.hidden_bias_from_states) return {h0s.data(), h};
    return {h0p.data(), hp.data()};
  }

  // A label step's draws where `lay` puts them: one call of uniforms, or segment by segment with
  // normals in the visible segments (sampled Gaussian units), in sequence order, as the CPU reads them.
  void draw_label_step(const label_draw_layout& lay) {
    if (!lay.visible_normals) {
      gen.uniform(lu.data(), lay.total());
    } else {
      gen.uniform(lu.data(), lay.first);
      for (int k = 0; k < lay.k; ++k) {
        gen.normal(lu.data() + lay.v(k), lay.visible, 0.0f, 1.0f);
        gen.uniform(lu.data() + lay.y(k), lay.labels + lay.hidden);
      }
    }
    rng_position += lay.total();
  }

  // The label step's update under Adam (model_labels.cpp has the gradient sums): W's gradient
  // 1/rows (disc x^T G + gen (v0^T h0p - vs^T hp)) into grad_w, then each parameter's Adam step (W and
  // the label weights with the decoupled decay, the visible biases with the generative term alone),
  // as the CPU's apply_label_adam.
  void apply_label_adam(const float* x, int rows, float disc_weight, float gen_weight) {
    const cd_config& c = opt.cd;
    const float inv = 1.0f / float(rows), decay = c.lr * c.weight_decay;
    const std::size_t k = std::size_t(classes);
    adam_advance(c.lr, adam_t.data(), adam_rate.data(), s);
    float beta = 0.0f;
    if (disc_weight > 0) {
      gemm_row_major(blas, opt.mode, true, false, nv, nh, rows, inv * disc_weight, x, nv, lg.data(), nh, beta,
                     grad_w.data(), nh);
      beta = 1.0f;
    }
    if (gen_weight > 0) {
      gemm_row_major(blas, opt.mode, true, false, nv, nh, rows, inv * gen_weight, x, nv, lh0p.data(), nh, beta,
                     grad_w.data(), nh);
      gemm_row_major(blas, opt.mode, true, false, nv, nh, rows, -inv * gen_weight, chain_view(), nv, hp.data(), nh,
                     1.0f, grad_w.data(), nh);
      adam_bias_update(v0.data(), vs.data(), nullptr, rows, nv, 0.0f, 0.0f, gauss ? sigma.data() : nullptr, gen_weight,
                       adam_rate.data(), vel_vb.data(), sq_vb.data(), vb.data(), s);
    }
    adam_weight_step(w.data(), grad_w.data(), vel_w.data(), sq_w.data(), std::size_t(nv) * nh, 1.0f, adam_rate.data(),
                     decay, s);
    adam_weight_step(label_w.data(), lgrad_w.data(), vel_label_w.data(), sq_label_w.data(), k * nh, inv,
                     adam_rate.data(), decay, s);
    adam_weight_step(hb.data(), lgrad_c.data(), vel_hb.data(), sq_hb.data(), std::size_t(nh), inv, adam_rate.data(), 0.0f,
                     s);
    adam_weight_step(label_b.data(), lgrad_b.data(), vel_label_b.data(), sq_label_b.data(), k, inv, adam_rate.data(),
                     0.0f, s);
  }

  // v0 is filled; draw the uniforms and run the rest, replaying a graph where possible.
  void draw(std::size_t n) {
    gen.uniform(u.data(), n);
    rng_position += n;
  }

  // One step's draws where its layout puts them: one call when they are all uniforms, else segment by
  // segment (uniforms, then normals for the visible units, in sequence order, then the swaps' uniforms;
  // every segment even).
  void draw_step(int rows) {
    const cd_draw_layout lay = make_draw_layout(rows, opt.cd);
    if (!lay.visible_normals) {
      draw(lay.total());
      return;
    }
    gen.uniform(u.data() + lay.h0(), lay.first);
    for (int k = 0; k < lay.k; ++k) {
      gen.normal(u.data() + lay.v(k), lay.visible, 0.0f, 1.0f);
      gen.uniform(u.data() + lay.h(k), lay.hidden);
    }
    if (lay.swaps > 0) gen.uniform(u.data() + lay.swap(), lay.swaps);  // parallel tempering's swaps
    rng_position += lay.total();
  }

  void step(int rows) {
    draw_step(rows);  // outside the graph: new draws each time
    pixels += std::uint64_t(rows) * nv;
    const bool seed_chains = (opt.cd.pcd || replicas > 1) && chains < rows;
    // The first step of each batch size runs eagerly, so that each kernel's first launch (module
    // loading) and cuBLAS's first call on this handle happen outside a capture; later ones replay the
    // graph. A default stream cannot be captured: there every step is eager.
    if (!opt.use_graph || seed_chains || s.is_default() || hook || ran_eagerly.insert(rows).second) {
      enqueue_step(rows, seed_chains);
    } else {
      auto it = graphs.find(rows);
      if (it == graphs.end())
        it = graphs.emplace(rows, cuda_graph::capture(s, [&](stream_view) { enqueue_step(rows, false); })).first;
      it->second.launch(s);
    }
    if (seed_chains) chains = rows;
  }
};

}  // namespace rbm
