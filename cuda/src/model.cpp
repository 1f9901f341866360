// rbm::model: orchestration of one CD-k step on the device. Host-only code: it enqueues cuBLAS calls,
// cuRAND draws and the kernels of kernels.hpp on the model's stream, and captures the fixed part of
// the step as a CUDA graph.
#include "rbm/model.hpp"

#include <utility>

#include "model_impl.hpp"

namespace rbm {

std::size_t model::required_bytes(const model_options& o) {
  const std::size_t nv = std::size_t(o.cd.nv), nh = std::size_t(o.cd.nh), b = std::size_t(o.max_batch);
  const std::size_t floats = 2 * (nv * nh + nv + nh)             // parameters and momentum
                             + b * (2 * nv + 4 * nh)              // v0, vs; h0p, h0s, hp, hs
                             + (o.cd.pcd ? b * nh : 0)            // chains
                             + (o.cd.visible == unit_kind::gaussian ? nv + 2 * b * nv : 0)  // sigma, v / sigma
                             + (o.cd.learn_sigma ? b * nv + 2 * nv : 0)  // h W^T, gradient, momentum of log sigma
                             + (o.cd.update_rule == optimizer::adam ? 2 * nv * nh + nv + nh + 1 +  // Adam's gradient, moments
                                                                          (o.cd.learn_sigma ? nv : 0)
                                                                    : 0)
                             + make_draw_layout(o.max_batch, o.cd).total()
                             + (replicas_of(o.cd) > 1  // tempered states, inputs, means (v / sigma), energies
                                    ? b * std::size_t(replicas_of(o.cd)) *
                                          ((o.cd.visible == unit_kind::gaussian ? 2 : 1) * nv + 3 * nh + 2) + nh
                                    : 0);
  return floats * sizeof(float) + sizeof(double) + (std::size_t(32) << 20);  // + error accumulator, cuBLAS
}

model::model(const model_options& opt, stream_view stream) {
  RBM_EXPECTS(opt.cd.nv > 0 && opt.cd.nh > 0 && opt.cd.k >= 1 && opt.max_batch > 0);
  if (opt.cd.learn_sigma && opt.cd.visible != unit_kind::gaussian)
    throw precondition_error("learn_sigma applies to Gaussian visible units only");
  if (opt.cd.learn_sigma && !(opt.cd.sigma_floor > 0)) throw precondition_error("sigma_floor must be positive");
  if (opt.cd.visible == unit_kind::categorical && (opt.cd.states < 2 || opt.cd.nv % opt.cd.states != 0))
    throw precondition_error("categorical visible units need at least 2 states per site and nv a multiple of them");
  if (replicas_of(opt.cd) > 1 && opt.cd.pcd)
    throw precondition_error("parallel tempering keeps its own persistent chains: give tempering or pcd, not both");
  p_ = std::make_unique<impl>(opt, stream);
}
model::~model() = default;
model::model(model&&) noexcept = default;
model& model::operator=(model&&) noexcept = default;

int model::nv() const noexcept { return p_->nv; }
int model::nh() const noexcept { return p_->nh; }
stream_view model::stream() const noexcept { return p_->s; }
const model_options& model::options() const noexcept { return p_->opt; }
float* model::weights() noexcept { return p_->w.data(); }
float* model::visible_bias() noexcept { return p_->vb.data(); }
float* model::hidden_bias() noexcept { return p_->hb.data(); }

void model::set_params(const float* w, const float* vb, const float* hb) {
  RBM_EXPECTS(w && vb && hb);
  auto& m = *p_;
  RBM_CUDA_CHECK(cudaMemcpyAsync(m.w.data(), w, m.w.size() * sizeof(float), cudaMemcpyHostToDevice, m.s.get()));
  RBM_CUDA_CHECK(cudaMemcpyAsync(m.vb.data(), vb, m.vb.size() * sizeof(float), cudaMemcpyHostToDevice, m.s.get()));
  RBM_CUDA_CHECK(cudaMemcpyAsync(m.hb.data(), hb, m.hb.size() * sizeof(float), cudaMemcpyHostToDevice, m.s.get()));
  m.s.synchronize();
}

void model::set_sigma(const float* sigma) {
  RBM_EXPECTS(sigma != nullptr && p_->gauss);
  bool one = true;
  for (int i = 0; i < p_->nv; ++i) {
    RBM_EXPECTS(sigma[i] > 0);
    one = one && sigma[i] == 1.0f;
  }
  one = one && !p_->learn_sigma;  // learned, sigma moves away from 1: always scaled (v / 1 is v exactly)
  if (one != p_->sigma_is_one) {  // the captured graphs read the other buffers
    p_->s.synchronize();
    p_->graphs.clear();
    // The other path launches kernels (the scaling by sigma) that may never have run: each batch size
    // runs eagerly once more, so that no kernel's first launch (module loading) is inside a capture.
    p_->ran_eagerly.clear();
    p_->sigma_is_one = one;
  }
  RBM_CUDA_CHECK(cudaMemcpyAsync(p_->sigma.data(), sigma, p_->nv * sizeof(float), cudaMemcpyHostToDevice, p_->s.get()));
  p_->s.synchronize();
}

void model::get_sigma(float* sigma) const {
  RBM_EXPECTS(sigma != nullptr && p_->gauss);
  RBM_CUDA_CHECK(cudaMemcpyAsync(sigma, p_->sigma.data(), p_->nv * sizeof(float), cudaMemcpyDeviceToHost, p_->s.get()));
  p_->s.synchronize();
}

void model::get_params(float* w, float* vb, float* hb) const {
  RBM_EXPECTS(w && vb && hb);
  const auto& m = *p_;
  RBM_CUDA_CHECK(cudaMemcpyAsync(w, m.w.data(), m.w.size() * sizeof(float), cudaMemcpyDeviceToHost, m.s.get()));
  RBM_CUDA_CHECK(cudaMemcpyAsync(vb, m.vb.data(), m.vb.size() * sizeof(float), cudaMemcpyDeviceToHost, m.s.get()));
  RBM_CUDA_CHECK(cudaMemcpyAsync(hb, m.hb.data(), m.hb.size() * sizeof(float), cudaMemcpyDeviceToHost, m.s.get()));
  m.s.synchronize();
}

training_state model::get_state() const {
  const auto& m = *p_;
  training_state st;
  st.vel_w.resize(m.vel_w.size());
  st.vel_vb.resize(m.vel_vb.size());
  st.vel_hb.resize(m.vel_hb.size());
  st.chains = m.chains;
  st.chain_h.resize(m.replicas > 1 ? 0 : std::size_t(m.chains) * m.nh);
  st.tempered_v.resize(m.replicas > 1 ? std::size_t(m.chains) * m.replicas * m.nv : 0);
  st.tempered_h.resize(m.replicas > 1 ? std::size_t(m.chains) * m.replicas * m.nh : 0);
  st.rng_position = m.rng_position;
  auto down = [&](float* dst, const float* src, std::size_t n) {
    if (n > 0) RBM_CUDA_CHECK(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToHost, m.s.get()));
  };
  down(st.vel_w.data(), m.vel_w.data(), st.vel_w.size());
  down(st.vel_vb.data(), m.vel_vb.data(), st.vel_vb.size());
  down(st.vel_hb.data(), m.vel_hb.data(), st.vel_hb.size());
  down(st.chain_h.data(), m.chain.data(), st.chain_h.size());
  down(st.tempered_v.data(), m.tv.data(), st.tempered_v.size());
  down(st.tempered_h.data(), m.th.data(), st.tempered_h.size());
  st.vel_log_sigma.resize(m.vel_log_sigma.size());
  down(st.vel_log_sigma.data(), m.vel_log_sigma.data(), st.vel_log_sigma.size());
  st.vel_label_w.resize(m.vel_label_w.size());
  st.vel_label_b.resize(m.vel_label_b.size());
  down(st.vel_label_w.data(), m.vel_label_w.data(), st.vel_label_w.size());
  down(st.vel_label_b.data(), m.vel_label_b.data(), st.vel_label_b.size());
  if (m.adam) {  // the second moments and the update count (the first moments are vel_*)
    for (auto [to, from] : {std::pair{&st.sq_w, &m.sq_w}, std::pair{&st.sq_vb, &m.sq_vb}, std::pair{&st.sq_hb, &m.sq_hb},
                            std::pair{&st.sq_log_sigma, &m.sq_log_sigma}, std::pair{&st.sq_label_w, &m.sq_label_w},
                            std::pair{&st.sq_label_b, &m.sq_label_b}}) {
      to->resize(from->size());
      down(to->data(), from->data(), to->size());
    }
    RBM_CUDA_CHECK(cudaMemcpyAsync(&st.updates, m.adam_t.data(), sizeof(std::uint64_t), cudaMemcpyDeviceToHost, m.s.get()));
  }
  m.s.synchronize();
  return st;
}

void model::set_state(const training_state& st) {
  auto& m = *p_;
  RBM_EXPECTS(st.vel_w.size() == m.vel_w.size() && st.vel_vb.size() == m.vel_vb.size() &&
              st.vel_hb.size() == m.vel_hb.size() && st.chains >= 0 && st.chains <= m.opt.max_batch &&
              st.chain_h.size() == (m.replicas > 1 ? 0 : std::size_t(st.chains) * m.nh) &&
              st.tempered_v.size() == (m.replicas > 1 ? std::size_t(st.chains) * m.replicas * m.nv : 0) &&
              st.tempered_h.size() == (m.replicas > 1 ? std::size_t(st.chains) * m.replicas * m.nh : 0) &&
              (st.chains == 0 || m.opt.cd.pcd || m.replicas > 1) &&
              (st.vel_log_sigma.empty() || st.vel_log_sigma.size() == m.vel_log_sigma.size()) &&
              (st.vel_label_w.empty() || (st.vel_label_w.size() == m.vel_label_w.size() &&
                                          st.vel_label_b.size() == m.vel_label_b.size())));
  auto up = [&](float* dst, const float* src, std::size_t n) {
    if (n > 0) RBM_CUDA_CHECK(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyHostToDevice, m.s.get()));
  };
  up(m.vel_w.data(), st.vel_w.data(), st.vel_w.size());
  up(m.vel_vb.data(), st.vel_vb.data(), st.vel_vb.size());
  up(m.vel_hb.data(), st.vel_hb.data(), st.vel_hb.size());
  up(m.chain.data(), st.chain_h.data(), st.chain_h.size());
  up(m.tv.data(), st.tempered_v.data(), st.tempered_v.size());
  up(m.th.data(), st.tempered_h.data(), st.tempered_h.size());
  if (m.learn_sigma) {  // a state without it (a model trained with fixed sigma) starts learning from rest
    if (st.vel_log_sigma.empty())
      RBM_CUDA_CHECK(cudaMemsetAsync(m.vel_log_sigma.data(), 0, m.nv * sizeof(float), m.s.get()));
    else
      up(m.vel_log_sigma.data(), st.vel_log_sigma.data(), st.vel_log_sigma.size());
  }
  if (m.classes > 0) {  // a state without it (a model trained without labels) starts the group from rest
    if (st.vel_label_w.empty()) {
      RBM_CUDA_CHECK(cudaMemsetAsync(m.vel_label_w.data(), 0, m.vel_label_w.size() * sizeof(float), m.s.get()));
      RBM_CUDA_CHECK(cudaMemsetAsync(m.vel_label_b.data(), 0, m.vel_label_b.size() * sizeof(float), m.s.get()));
    } else {
      up(m.vel_label_w.data(), st.vel_label_w.data(), st.vel_label_w.size());
      up(m.vel_label_b.data(), st.vel_label_b.data(), st.vel_label_b.size());
    }
  }
  if (m.adam) {  // a state without the moments (none taken yet, or an SGD run's) starts Adam from rest
    const bool moments = !st.sq_w.empty();
    RBM_EXPECTS(!moments || (st.sq_w.size() == m.sq_w.size() && st.sq_vb.size() == m.sq_vb.size() &&
                             st.sq_hb.size() == m.sq_hb.size()));
    for (auto [from, to] : {std::pair{&st.sq_w, &m.sq_w}, std::pair{&st.sq_vb, &m.sq_vb}, std::pair{&st.sq_hb, &m.sq_hb},
                            std::pair{&st.sq_log_sigma, &m.sq_log_sigma}, std::pair{&st.sq_label_w, &m.sq_label_w},
                            std::pair{&st.sq_label_b, &m.sq_label_b}}) {
      if (to->size() == 0) continue;
      if (from->size() == to->size())
        up(to->data(), from->data(), to->size());
      else
        RBM_CUDA_CHECK(cudaMemsetAsync(to->data(), 0, to->size() * sizeof(float), m.s.get()));
    }
    const std::uint64_t t = moments ? st.updates : 0;
    RBM_CUDA_CHECK(cudaMemcpyAsync(m.adam_t.data(), &t, sizeof t, cudaMemcpyHostToDevice, m.s.get()));
  }
  m.chains = st.chains;
  m.gen.set_offset(st.rng_position);
  m.rng_position = st.rng_position;
  m.s.synchronize();
}

void model::set_gradient_hook(gradient_hook hook) {
  auto& m = *p_;
  m.s.synchronize();  // nothing queued reads the buffers replaced below
  if (hook && m.grad_vb.size() == 0) {
    if (m.grad_w.size() == 0) m.grad_w = device_buffer<float>(std::size_t(m.nv) * m.nh, m.s);
    m.grad_vb = device_buffer<float>(std::size_t(m.nv), m.s);
    m.grad_hb = device_buffer<float>(std::size_t(m.nh), m.s);
  }
  m.hook = std::move(hook);
}

void model::set_rates(float lr, float momentum) {
  RBM_EXPECTS(lr > 0 && momentum >= 0 && momentum < 1);
  if (lr == p_->opt.cd.lr && momentum == p_->opt.cd.momentum) return;
  p_->opt.cd.lr = lr;
  p_->opt.cd.momentum = momentum;
  p_->s.synchronize();  // once per schedule change: no graph is in flight when it is destroyed
  p_->graphs.clear();   // the captured launches hold the old values
}

void model::train_step(const float* v0, int rows) {
  RBM_EXPECTS(v0 != nullptr && rows > 0 && rows <= p_->opt.max_batch);
  RBM_CUDA_CHECK(cudaMemcpyAsync(p_->v0.data(), v0, std::size_t(rows) * p_->nv * sizeof(float),
                                 cudaMemcpyDeviceToDevice, p_->s.get()));
  p_->step(rows);
}

void model::train_step_bytes(const std::uint8_t* v0, int rows) {
  p_->bernoulli_only(__func__);
  RBM_EXPECTS(v0 != nullptr && rows > 0 && rows <= p_->opt.max_batch);
  bytes_to_unit(v0, p_->v0.data(), std::size_t(rows) * p_->nv, p_->s);
  p_->step(rows);
}

void model::train_step_gather(const std::uint8_t* data, const int* idx, int rows) {
  p_->bernoulli_only(__func__);
  RBM_EXPECTS(data != nullptr && idx != nullptr && rows > 0 && rows <= p_->opt.max_batch);
  gather_to_unit(data, idx, rows, p_->nv, p_->v0.data(), p_->s);
  p_->step(rows);
}

double model::take_error_sum(std::uint64_t& pixels) {
  auto& m = *p_;
  double sum = 0;
  RBM_CUDA_CHECK(cudaMemcpyAsync(&sum, m.err_acc.data(), sizeof(double), cudaMemcpyDeviceToHost, m.s.get()));
  RBM_CUDA_CHECK(cudaMemsetAsync(m.err_acc.data(), 0, sizeof(double), m.s.get()));
  m.s.synchronize();
  pixels = m.pixels;
  m.pixels = 0;
  return sum;
}

void model::hidden_probs(const float* v, int rows, float* prob) {
  p_->bernoulli_only(__func__);
  RBM_EXPECTS(v && prob && rows > 0);
  p_->forward(v, rows, prob);
  hidden_sample(p_->opt.cd.hidden, prob, p_->hb.data(), nullptr, prob, nullptr, rows, p_->nh, p_->s);
}

void model::visible_probs(const float* h, int rows, float* prob) {
  p_->bernoulli_only(__func__);
  RBM_EXPECTS(h && prob && rows > 0);
  p_->backward(h, rows, prob);
  sigmoid_sample(prob, p_->vb.data(), nullptr, prob, nullptr, rows, p_->nv, p_->s);
}

void model::sample_hidden(const float* v, int rows, float* prob, float* state) {
  p_->bernoulli_only(__func__);
  RBM_EXPECTS(v && prob && state && rows > 0 && rows <= p_->opt.max_batch);
  p_->draw(std::size_t(rows) * p_->nh);
  p_->forward(v, rows, prob);
  hidden_sample(p_->opt.cd.hidden, prob, p_->hb.data(), p_->u.data(), prob, state, rows, p_->nh, p_->s);
}

void model::sample_visible(const float* h, int rows, float* prob, float* state) {
  p_->bernoulli_only(__func__);
  RBM_EXPECTS(h && prob && state && rows > 0 && rows <= p_->opt.max_batch);
  p_->draw(std::size_t(rows) * p_->nv);
  p_->backward(h, rows, prob);
  sigmoid_sample(prob, p_->vb.data(), p_->u.data(), prob, state, rows, p_->nv, p_->s);
}

void model::gibbs(float* v, float* h, int rows, int steps) {
  p_->bernoulli_only(__func__);
  RBM_EXPECTS(v && h && rows > 0 && rows <= p_->opt.max_batch && steps >= 0);
  for (int i = 0; i < steps; ++i) {
    sample_hidden(v, rows, p_->hp.data(), h);
    sample_visible(h, rows, p_->vs.data(), v);
  }
}

void model::free_energy(const float* v, int rows, float* out) {
  RBM_EXPECTS(v && out && rows > 0 && rows <= p_->opt.max_batch);
  auto& m = *p_;
  m.forward(m.hidden_view(v, rows, m.s0.data()), rows, m.hp.data());
  rbm::free_energy(v, m.vb.data(), m.hp.data(), m.hb.data(), m.gauss ? m.sigma.data() : nullptr, rows, m.nv, m.nh, out,
                   nullptr, m.s, m.opt.cd.hidden);
}

ais_result model::ais_log_z(const std::vector<float>& base_vb, const ais_options& opt) {
  p_->bernoulli_only(__func__);
  auto& m = *p_;
  RBM_EXPECTS(opt.runs > 0 && int(base_vb.size()) == m.nv);
  const int n = opt.runs, nv = m.nv, nh = m.nh;
  const unit_kind hidden = m.opt.cd.hidden;
  stream_view s = m.s;
  const std::vector<double> beta = ais_betas(opt.steps);
  std::vector<float> dvb_host(nv), vb_host(nv);
  RBM_CUDA_CHECK(cudaMemcpyAsync(vb_host.data(), m.vb.data(), nv * sizeof(float), cudaMemcpyDeviceToHost, s.get()));
  s.synchronize();
  for (int i = 0; i < nv; ++i) dvb_host[i] = vb_host[i] - base_vb[i];
  device_buffer<float> base(nv, s), dvb(nv, s), v(std::size_t(n) * nv, s), h(std::size_t(n) * nh, s),
      pre(std::size_t(n) * nh, s), vpre(std::size_t(n) * nv, s), u(std::size_t(n) * std::max(nv, nh), s);
  device_buffer<double> logw(n, s);
  RBM_CUDA_CHECK(cudaMemcpyAsync(base.data(), base_vb.data(), nv * sizeof(float), cudaMemcpyHostToDevice, s.get()));
  RBM_CUDA_CHECK(cudaMemcpyAsync(dvb.data(), dvb_host.data(), nv * sizeof(float), cudaMemcpyHostToDevice, s.get()));
  RBM_CUDA_CHECK(cudaMemsetAsync(logw.data(), 0, n * sizeof(double), s.get()));
  philox_generator gen(philox_generator::where::device, opt.seed, 0, s.get());
  // Exact samples from the base model, then the CPU's sequence of weights and transitions.
  gen.uniform(u.data(), std::size_t(n) * nv);
  ais_sample_visible(nullptr, nullptr, base.data(), 0.0, u.data(), v.data(), n, nv, s);
  m.forward(v.data(), n, pre.data());
  for (std::size_t k = 1; k < beta.size(); ++k) {
    const double b = beta[k];
    ais_accumulate_log_weights(v.data(), dvb.data(), pre.data(), m.hb.data(), b, beta[k - 1], n, nv, nh, logw.data(), s,
                               hidden);
    if (k + 1 == beta.size()) break;
    gen.uniform(u.data(), std::size_t(n) * nh);
    ais_sample_hidden(pre.data(), m.hb.data(), b, u.data(), h.data(), n, nh, s, hidden);
    m.backward(h.data(), n, vpre.data());
    gen.uniform(u.data(), std::size_t(n) * nv);
    ais_sample_visible(vpre.data(), m.vb.data(), base.data(), b, u.data(), v.data(), n, nv, s);
    m.forward(v.data(), n, pre.data());
  }
  std::vector<double> host(n);
  RBM_CUDA_CHECK(cudaMemcpyAsync(host.data(), logw.data(), n * sizeof(double), cudaMemcpyDeviceToHost, s.get()));
  s.synchronize();
  return ais_summarise(host, base_vb, nh, int(beta.size()), hidden);
}

eval_sums model::evaluate(const std::uint8_t* data, int rows) {
  p_->bernoulli_only(__func__);
  RBM_EXPECTS(data != nullptr && rows >= 0);
  auto& m = *p_;
  eval_sums out;
  if (rows == 0) return out;
  const int chunk = eval_chunk, nv = m.nv, nh = m.nh;
  stream_view s = m.s;
  device_buffer<float> v(std::size_t(chunk) * nv, s), pre(std::size_t(chunk) * nh, s), hprob(pre.size(), s),
      hstate(pre.size(), s), vr(v.size(), s), u(std::size_t(chunk) * (nv + nh), s);
  device_buffer<double> acc(3, s);
  RBM_CUDA_CHECK(cudaMemsetAsync(acc.data(), 0, 3 * sizeof(double), s.get()));
  philox_generator gen(philox_generator::where::device, m.opt.cd.seed ^ eval_seed_salt, 0, s.get());
  for (int start = 0; start < rows; start += chunk) {
    const int b = std::min(chunk, rows - start);
    const std::size_t bv = std::size_t(b) * nv, bh = std::size_t(b) * nh;
    bytes_to_unit(data + std::size_t(start) * nv, v.data(), bv, s);
    m.forward(v.data(), b, pre.data());
    rbm::free_energy(v.data(), m.vb.data(), pre.data(), m.hb.data(), nullptr, b, nv, nh, nullptr, acc.data() + 2, s,
                     m.opt.cd.hidden);
    gen.uniform(u.data(), bh + bv);
    hidden_sample(m.opt.cd.hidden, pre.data(), m.hb.data(), u.data(), hprob.data(), hstate.data(), b, nh, s);
    m.backward(hprob.data(), b, vr.data());
    sigmoid_sample(vr.data(), m.vb.data(), nullptr, vr.data(), nullptr, b, nv, s);
    accumulate_squared_error(v.data(), vr.data(), bv, acc.data() + 1, s);
    m.backward(hstate.data(), b, vr.data());
    sigmoid_sample(vr.data(), m.vb.data(), u.data() + bh, vr.data(), vr.data(), b, nv, s);
    accumulate_squared_error(v.data(), vr.data(), bv, acc.data(), s);
  }
  double host[3];
  RBM_CUDA_CHECK(cudaMemcpyAsync(host, acc.data(), sizeof host, cudaMemcpyDeviceToHost, s.get()));
  s.synchronize();
  out.err_sampled = host[0];
  out.err_mean_field = host[1];
  out.free_energy = host[2];
  return out;
}

}  // namespace rbm
