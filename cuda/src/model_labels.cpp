// rbm::model's label group: its parameters and its update, the device counterpart of cpu_label_step
// (host/src/classification.cpp) in the same order of operations: the GEMMs on cuBLAS, the per-class
// work in label_kernels.cu, the draws from the model's generator in make_label_draw_layout's layout.
#include "model_impl.hpp"

namespace rbm {
namespace {

void zero(device_buffer<float>& b, stream_view s) {
  if (b.size() > 0) RBM_CUDA_CHECK(cudaMemsetAsync(b.data(), 0, b.size() * sizeof(float), s.get()));
}

}  // namespace

void model::set_label_group(int classes, const float* label_w, const float* label_b) {
  auto& m = *p_;
  if (classes < 2 || classes > 3072)
    throw precondition_error("a label group needs 2 to 3,072 classes on the GPU (got " + std::to_string(classes) + ")");
  RBM_EXPECTS(label_w != nullptr && label_b != nullptr);
  if (m.classes != classes) {
    m.s.synchronize();  // nothing queued reads the old group when it goes
    const std::size_t b = std::size_t(m.opt.max_batch), nh = std::size_t(m.nh), k = std::size_t(classes);
    m.label_w = device_buffer<float>(k * nh, m.s);
    m.label_b = device_buffer<float>(k, m.s);
    m.vel_label_w = device_buffer<float>(k * nh, m.s);
    m.vel_label_b = device_buffer<float>(k, m.s);
    m.lpre = device_buffer<float>(b * nh, m.s);
    m.lh0p = device_buffer<float>(b * nh, m.s);
    m.lg = device_buffer<float>(b * nh, m.s);
    m.ld = device_buffer<float>(b * k, m.s);
    m.lly = device_buffer<float>(b * k, m.s);
    m.lu = device_buffer<float>(make_label_draw_layout(m.opt.max_batch, m.opt.cd).total(), m.s);
    m.lgrad_w = device_buffer<float>(k * nh, m.s);
    m.lgrad_b = device_buffer<float>(k, m.s);
    m.lgrad_c = device_buffer<float>(nh, m.s);
    m.lys = device_buffer<int>(b, m.s);
    m.loss_acc = device_buffer<double>(1, m.s);
    zero(m.vel_label_w, m.s);
    zero(m.vel_label_b, m.s);
    if (m.adam) {
      m.sq_label_w = device_buffer<float>(k * nh, m.s);
      m.sq_label_b = device_buffer<float>(k, m.s);
      zero(m.sq_label_w, m.s);
      zero(m.sq_label_b, m.s);
    }
    RBM_CUDA_CHECK(cudaMemsetAsync(m.loss_acc.data(), 0, sizeof(double), m.s.get()));
    m.classes = classes;
    m.class_rows = 0;
  }
  RBM_CUDA_CHECK(cudaMemcpyAsync(m.label_w.data(), label_w, m.label_w.size() * sizeof(float), cudaMemcpyHostToDevice,
                                 m.s.get()));
  RBM_CUDA_CHECK(cudaMemcpyAsync(m.label_b.data(), label_b, m.label_b.size() * sizeof(float), cudaMemcpyHostToDevice,
                                 m.s.get()));
  m.s.synchronize();
}

int model::classes() const noexcept { return p_->classes; }

void model::get_label_group(float* label_w, float* label_b) const {
  const auto& m = *p_;
  if (m.classes == 0) throw precondition_error("this model has no label group");
  RBM_EXPECTS(label_w != nullptr && label_b != nullptr);
  RBM_CUDA_CHECK(cudaMemcpyAsync(label_w, m.label_w.data(), m.label_w.size() * sizeof(float), cudaMemcpyDeviceToHost,
                                 m.s.get()));
  RBM_CUDA_CHECK(cudaMemcpyAsync(label_b, m.label_b.data(), m.label_b.size() * sizeof(float), cudaMemcpyDeviceToHost,
                                 m.s.get()));
  m.s.synchronize();
}

void model::train_labeled_step(const float* v0, const int* y, int rows, float disc_weight, float gen_weight) {
  auto& m = *p_;
  const cd_config& c = m.opt.cd;
  if (m.classes == 0) throw precondition_error("train_labeled_step needs a label group (set_label_group)");
  RBM_EXPECTS(v0 != nullptr && y != nullptr && rows > 0 && rows <= m.opt.max_batch);
  RBM_EXPECTS(disc_weight >= 0 && gen_weight >= 0 && (disc_weight > 0 || gen_weight > 0));
  if (c.sum_weight_gradient) throw precondition_error("a label group takes the mean gradient (not the summed one)");
  if (gen_weight > 0 && m.replicas > 1)
    throw precondition_error("the joint chain with labels is CD or PCD (parallel tempering trains models without labels so far)");
  const int nv = m.nv, nh = m.nh, kc = m.classes;
  const std::size_t bh = std::size_t(rows) * nh, bv = std::size_t(rows) * nv;
  const bool disc = disc_weight > 0, gen = gen_weight > 0;
  RBM_CUDA_CHECK(cudaMemcpyAsync(m.v0.data(), v0, bv * sizeof(float), cudaMemcpyDeviceToDevice, m.s.get()));
  const float* x = m.hidden_view(m.v0.data(), rows, m.s0.data());  // v, or v / sigma
  m.forward(x, rows, m.lpre.data());                                 // x W: every kernel adds hb itself

  if (disc) {  // p(y | x), its loss and the per-row terms of the exact gradient
    label_discriminative(m.lpre.data(), m.hb.data(), m.label_w.data(), m.label_b.data(), y, rows, nh, kc, m.lg.data(),
                         m.ld.data(), m.loss_acc.data(), m.s, c.hidden);
    m.class_rows += std::uint64_t(rows);
  }
  if (gen) {  // CD-k on the joint: h0 ~ p(h | x, y); k times v ~ p(v | h), y ~ softmax, h ~ p(h | v, y)
    const label_draw_layout lay = make_label_draw_layout(rows, c);
    m.draw_label_step(lay);
    const float* u = m.lu.data();
    label_hidden(m.lpre.data(), m.hb.data(), m.label_w.data(), y, u, m.lh0p.data(), m.hs.data(), rows, nh, m.s, c.hidden);
    if (c.pcd && m.chains >= rows)
      RBM_CUDA_CHECK(cudaMemcpyAsync(m.hs.data(), m.chain.data(), bh * sizeof(float), cudaMemcpyDeviceToDevice,
                                     m.s.get()));
    for (int step = 0; step < c.k; ++step) {
      m.backward(m.hs.data(), rows, m.vs.data());
      m.draw_visible(m.vs.data(), rows, u + lay.v(step), lay.visible_normals);  // Gaussian: mean (+ sigma z); a state per site
      gemm_row_major(m.blas, m.opt.mode, false, true, rows, kc, nh, 1.0f, m.hs.data(), nh, m.label_w.data(), nh, 0.0f,
                     m.lly.data(), kc);  // h U^T
      sample_labels(m.lly.data(), m.label_b.data(), u + lay.y(step), rows, kc, m.lys.data(), m.s);
      if (step == 0) accumulate_squared_error(m.v0.data(), m.vs.data(), bv, m.err_acc.data(), m.s);
      m.forward(m.hidden_view(m.vs.data(), rows, m.ss.data()), rows, m.hp.data());  // vs / sigma for Gaussian units
      label_hidden(m.hp.data(), m.hb.data(), m.label_w.data(), m.lys.data(), u + lay.h(step), m.hp.data(),
                   m.hs.data(), rows, nh, m.s, c.hidden);
    }
    if (c.pcd) {  // the chains go on (a smaller last batch updates the first of them)
      RBM_CUDA_CHECK(cudaMemcpyAsync(m.chain.data(), m.hs.data(), bh * sizeof(float), cudaMemcpyDeviceToDevice,
                                     m.s.get()));
      m.chains = std::max(m.chains, rows);
    }
    m.pixels += bv;
  }

  // The gradient sums, all from the parameters before this update.
  label_gradient(m.lpre.data(), m.hb.data(), m.label_w.data(), disc ? m.ld.data() : nullptr, y,
                 gen ? m.lys.data() : nullptr, m.lh0p.data(), m.hp.data(), rows, nh, kc, disc_weight, gen_weight,
                 m.lgrad_w.data(), m.lgrad_b.data(), m.s, c.hidden);
  label_hidden_gradient(disc ? m.lg.data() : nullptr, gen ? m.lh0p.data() : nullptr, m.hp.data(), rows, nh,
                        disc_weight, gen_weight, m.lgrad_c.data(), m.s);
  if (m.adam) return m.apply_label_adam(x, rows, disc_weight, gen_weight);
  const float scale = c.lr / float(rows), decay = c.lr * c.weight_decay, mom = c.momentum;
  // W: vel = momentum vel + lr/rows (disc x^T G + gen (v0^T h0p - vs^T hp)); vel -= lr decay W; W += vel.
  float beta = mom;
  if (disc) {
    gemm_row_major(m.blas, m.opt.mode, true, false, nv, nh, rows, scale * disc_weight, x, nv, m.lg.data(), nh, beta,
                   m.vel_w.data(), nh);
    beta = 1.0f;
  }
  if (gen) {  // the hidden layer's views of the rows (v / sigma for Gaussian units)
    gemm_row_major(m.blas, m.opt.mode, true, false, nv, nh, rows, scale * gen_weight, x, nv, m.lh0p.data(), nh, beta,
                   m.vel_w.data(), nh);
    gemm_row_major(m.blas, m.opt.mode, true, false, nv, nh, rows, -scale * gen_weight, m.chain_view(), nv,
                   m.hp.data(), nh, 1.0f, m.vel_w.data(), nh);
    // The visible biases move with the generative term alone (over sigma^2 for Gaussian units).
    bias_update(m.v0.data(), m.vs.data(), nullptr, rows, nv, c.lr * gen_weight, mom, 0.0f, 0.0f,
                m.gauss ? m.sigma.data() : nullptr, m.vel_vb.data(), m.vb.data(), m.s);
  }
  apply_weight_step(m.w.data(), m.vel_w.data(), std::size_t(nv) * nh, decay, m.s);
  momentum_step(m.lgrad_w.data(), std::size_t(kc) * nh, scale, mom, decay, m.vel_label_w.data(), m.label_w.data(), m.s);
  momentum_step(m.lgrad_c.data(), std::size_t(nh), scale, mom, 0.0f, m.vel_hb.data(), m.hb.data(), m.s);
  momentum_step(m.lgrad_b.data(), std::size_t(kc), scale, mom, 0.0f, m.vel_label_b.data(), m.label_b.data(), m.s);
}

double model::take_class_loss_sum(std::uint64_t& rows) {
  auto& m = *p_;
  rows = m.class_rows;
  m.class_rows = 0;
  if (m.classes == 0) return 0.0;
  double sum = 0;
  RBM_CUDA_CHECK(cudaMemcpyAsync(&sum, m.loss_acc.data(), sizeof(double), cudaMemcpyDeviceToHost, m.s.get()));
  RBM_CUDA_CHECK(cudaMemsetAsync(m.loss_acc.data(), 0, sizeof(double), m.s.get()));
  m.s.synchronize();
  return sum;
}

}  // namespace rbm
