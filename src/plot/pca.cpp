// The figures' projection of the data space (make_projection, project in
// dictlearn/plot.hpp): the data's first two principal components, from the
// covariance of at most a few thousand rows; the figures themselves are in
// plot.cpp.
#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>

#include "core/check.hpp"
#include "dictlearn/plot.hpp"
#include "kernels/gemm.hpp"

namespace dictlearn {

Projection make_projection(const Matrix<double>& X) {
  const Eigen::Index dim = X.cols();
  DICTLEARN_CHECK(dim >= 1, "make_projection: the data has no columns");
  for (Eigen::Index i = 0; i < X.rows(); ++i) {
    for (Eigen::Index j = 0; j < dim; ++j) {
      DICTLEARN_CHECK(std::isfinite(X(i, j)), "make_projection: row {}, column {} is {}", i, j,
                      X(i, j));
    }
  }
  Projection projection;
  projection.center = Vector<double>::Zero(dim);
  projection.axes = Matrix<double>::Zero(2, dim);
  if (dim <= 2) {
    projection.axes(0, 0) = 1;
    if (dim == 2) projection.axes(1, 1) = 1;
    projection.x_label = "x1";
    projection.y_label = dim == 2 ? "x2" : "";
    return projection;
  }
  DICTLEARN_CHECK(X.rows() >= 1, "make_projection: no samples to find principal components of");
  projection.center = X.colwise().mean().transpose();
  // Two axes for a figure need no more than a few thousand samples: beyond
  // kMaxPcaRows a fixed stride picks them, and the dispatched product forms
  // the covariance (seconds saved for 60,000 x 784).
  constexpr Eigen::Index kMaxPcaRows = 5000;
  const Eigen::Index stride = (X.rows() + kMaxPcaRows - 1) / kMaxPcaRows;
  const Eigen::Index used = (X.rows() + stride - 1) / stride;
  Matrix<double> centered(used, dim);
  for (Eigen::Index i = 0; i < used; ++i) {
    centered.row(i) = X.row(i * stride) - projection.center.transpose();
  }
  Matrix<double> covariance(dim, dim);
  detail::gemm(true, false, dim, dim, used, centered.data(), dim, centered.data(), dim, 0.0,
               covariance.data(), dim);
  covariance /= static_cast<double>(std::max<Eigen::Index>(used - 1, 1));
  const Eigen::MatrixXd covariance_matrix = covariance;
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(covariance_matrix);
  DICTLEARN_CHECK(solver.info() == Eigen::Success,
                  "make_projection: the eigen decomposition of the {} x {} "
                  "covariance failed",
                  dim, dim);
  // Eigenvalues come in increasing order: the last two columns are PC1, PC2.
  for (int component = 0; component < 2; ++component) {
    Vector<double> axis = solver.eigenvectors().col(dim - 1 - component);
    Eigen::Index largest = 0;
    axis.cwiseAbs().maxCoeff(&largest);
    if (axis(largest) < 0) axis = -axis;
    projection.axes.row(component) = axis.transpose();
  }
  projection.x_label = "PC1";
  projection.y_label = "PC2";
  return projection;
}

Matrix<double> project(const Projection& projection, const Matrix<double>& points) {
  DICTLEARN_CHECK(projection.axes.rows() == 2 && projection.center.size() == projection.axes.cols(),
                  "project: malformed projection (axes {} x {}, center {})", projection.axes.rows(),
                  projection.axes.cols(), projection.center.size());
  DICTLEARN_CHECK(points.rows() == 0 || points.cols() == projection.axes.cols(),
                  "project: points have {} columns, the projection expects {}", points.cols(),
                  projection.axes.cols());
  if (points.rows() == 0) return Matrix<double>(0, 2);
  return (points.rowwise() - projection.center.transpose()) * projection.axes.transpose();
}

}  // namespace dictlearn
