module coilbench/spawnjoin

go 1.19
