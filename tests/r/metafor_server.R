# The tests' bridge to R's metafor (tests/metafor_live.py starts it once per session).
# Reads one request per line on stdin, answers one line per request on stdout:
#   request:  id <TAB> analysis <TAB> method <TAB> x1,x2,... <TAB> n1,n2,... [<TAB> g1,g2,...]
#   answer:   id <TAB> key=v1,v2,...;key=...      or   id <TAB> error=message
# Every fit uses escalc(measure = "PLO") (0.5 added to both cells of 0%/100% arms) and
# tight convergence criteria, so that differences are the estimators', not the stopping rules'.
suppressPackageStartupMessages(library(metafor))
options(digits = 17, warn = 1)

TIGHT <- list(threshold = 1e-12, tol = 1e-12, maxiter = 10000, tau2.max = 1e4)
num <- function(v) paste(formatC(as.numeric(v), digits = 17, format = "g"), collapse = ",")
field <- function(key, v) paste0(key, "=", num(v))

fit_iv <- function(x, n, method, test = "z") {
  d <- escalc(measure = "PLO", xi = x, ni = n)
  rma(yi, vi, data = d, method = toupper(method), test = test, control = TIGHT)
}

# One subgroup's logit and its standard error, by the conventions of calcinosis.pooling:
# a single study is its own logit; the GLMM with every arm at 0% (or at 100%) adds the
# counts, and with arms at 0% and 100% only falls back to DerSimonian-Laird.
subgroup_fit <- function(x, n, method, nodes = 25) {
  if (length(x) == 1) {
    d <- escalc(measure = "PLO", xi = x, ni = n)
    return(c(d$yi[1], sqrt(d$vi[1])))
  }
  if (method == "glmm") {
    if (all(x == 0) || all(x == n)) {
      d <- escalc(measure = "PLO", xi = sum(x), ni = sum(n))
      return(c(d$yi[1], sqrt(d$vi[1])))
    }
    if (!any(x > 0 & x < n)) {  # arms at 0% and 100% only: no ML estimate; DL instead
      r <- fit_iv(x, n, "DL")
      return(c(r$b[1], r$se))
    }
    r <- rma.glmm(measure = "PLO", xi = x, ni = n, nAGQ = nodes)
    return(c(r$b[1], r$se))
  }
  r <- fit_iv(x, n, method)
  c(r$b[1], r$se)
}

answer <- function(analysis, method, x, n, g) {
  if (analysis == "rma") {
    r <- fit_iv(x, n, method)
    p <- predict(r)
    return(paste(field("b", r$b[1]), field("se", r$se), field("ci", c(r$ci.lb, r$ci.ub)),
                 field("tau2", r$tau2), field("I2", r$I2), field("pi", c(p$pi.lb, p$pi.ub)),
                 sep = ";"))
  }
  if (analysis == "knha") {
    k <- fit_iv(x, n, method, "knha")
    a <- fit_iv(x, n, method, "adhoc")
    return(paste(field("b", k$b[1]), field("se", k$se), field("ci", c(k$ci.lb, k$ci.ub)),
                 field("s2w", k$s2w), field("adhoc_se", a$se),
                 field("adhoc_ci", c(a$ci.lb, a$ci.ub)), sep = ";"))
  }
  if (analysis == "l1o") {
    l <- leave1out(fit_iv(x, n, method))
    return(paste(field("b", l$estimate), field("se", l$se), field("ci_lb", l$ci.lb),
                 field("ci_ub", l$ci.ub), field("tau2", l$tau2), field("I2", l$I2), sep = ";"))
  }
  if (analysis == "glmm") {  # method: the number of quadrature nodes (lme4: 1 to 25)
    warned <- 0  # lme4's warnings (a singular Hessian at tau^2 = 0 makes its SE unreliable)
    r <- withCallingHandlers(
      rma.glmm(measure = "PLO", xi = x, ni = n, nAGQ = as.integer(method)),
      warning = function(w) {
        warned <<- 1
        invokeRestart("muffleWarning")
      })
    return(paste(field("b", r$b[1]), field("se", r$se), field("tau2", r$tau2),
                 field("ci", c(r$ci.lb, r$ci.ub)), field("warned", warned), sep = ";"))
  }
  # The GLMM ones also answer with lme4's default 7 nodes (b7, se7, QE7): where 7 and 25
  # nodes disagree, lme4's quadrature has not converged.
  if (analysis == "glmm_l1o") {
    fits <- sapply(seq_along(x), function(i) subgroup_fit(x[-i], n[-i], "glmm"))
    fits7 <- sapply(seq_along(x), function(i) subgroup_fit(x[-i], n[-i], "glmm", 7))
    return(paste(field("b", fits[1, ]), field("se", fits[2, ]), field("b7", fits7[1, ]),
                 field("se7", fits7[2, ]), sep = ";"))
  }
  if (analysis == "subgroups") {
    groups <- unique(g)
    fit_all <- function(nodes) {
      sapply(groups, function(level) subgroup_fit(x[g == level], n[g == level], method, nodes))
    }
    fits <- fit_all(25)
    between <- rma(yi = fits[1, ], sei = fits[2, ], method = "FE")
    reply <- paste(field("b", fits[1, ]), field("se", fits[2, ]), field("QE", between$QE),
                   field("QEp", between$QEp), sep = ";")
    if (method == "glmm") {
      fits7 <- fit_all(7)
      between7 <- rma(yi = fits7[1, ], sei = fits7[2, ], method = "FE")
      reply <- paste(reply, field("b7", fits7[1, ]), field("se7", fits7[2, ]),
                     field("QE7", between7$QE), sep = ";")
    }
    return(reply)
  }
  stop(paste("unknown analysis", analysis))
}

input <- file("stdin", open = "r")
cat("ready", if (requireNamespace("lme4", quietly = TRUE)) "lme4" else "", "\n")
flush(stdout())
while (length(line <- readLines(input, n = 1)) > 0) {
  parts <- strsplit(line, "\t", fixed = TRUE)[[1]]
  reply <- tryCatch({
    x <- as.numeric(strsplit(parts[4], ",", fixed = TRUE)[[1]])
    n <- as.numeric(strsplit(parts[5], ",", fixed = TRUE)[[1]])
    g <- if (length(parts) >= 6) strsplit(parts[6], ",", fixed = TRUE)[[1]] else NULL
    answer(parts[2], parts[3], x, n, g)
  }, error = function(e) paste0("error=", gsub("[\t\n;]", " ", conditionMessage(e))))
  cat(parts[1], "\t", reply, "\n", sep = "")
  flush(stdout())
}
