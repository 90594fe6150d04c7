#!/bin/bash
# numpy's batch-norm times alone, and beside backends that leave CPU work behind (issue 31)
cd "$(dirname "$0")"
export PYTHONPATH="$(pwd)/../../../tests/fake_plugins"
N=${NORMBENCH:-normbench}
COMMON="--norm batchnorm --shape 32x64x28x28 --shape 8x64x56x56 --op train --op eval --op backward --threads 1"
for i in 1 2 3; do
  $N bench --backend numpy $COMMON --output alone$i.json --force > alone$i.txt 2>&1
  $N bench --plugin leaky_backends --plugin crashing_backends --backend numpy --backend leaks-thread \
     --backend leaves-child --backend crash-spin --timeout 5 $COMMON --output beside$i.json --force > beside$i.txt 2>&1
done
