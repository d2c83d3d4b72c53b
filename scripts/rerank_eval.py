"""nDCG@10 of the local rerank on the labelled set: BM25 alone, embeddings alone, and their fusion.

    .venv/bin/python scripts/rerank_eval.py            # the table, with the fusion's k in use
    .venv/bin/python scripts/rerank_eval.py --sweep    # and fusion for several k, to choose it

The set (`scripts/data/rerank_set.jsonl`) was written for this project: each line is a query and
its candidate passages, graded 3 (answers it), 2 (partly), 1 (on the topic, no answer) or 0 (off
topic, often sharing the query's words on purpose: the traps that catch BM25), alongside
paraphrased answers that share few words with the query (those that embeddings find). Passages are
shuffled with a fixed seed before ranking, since ties keep the order given and the file lists the
good ones first. nDCG uses the gain 2^grade - 1 and a log2 position discount. The last 10 queries
are identifier lookups (status codes, error names, RFC numbers, versions).
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from pathlib import Path

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from interlingua.adapters.local import fusion  # noqa: E402
from interlingua.adapters.local.minilm import MiniLM  # noqa: E402

SET = ROOT / "scripts" / "data" / "rerank_set.jsonl"
SWEEP = (1, 2, 5, 10, 20, 30, 60, 100)


def ndcg(order: list[int], grades: list[int], depth: int = 10) -> float:
    def dcg(gs: list[int]) -> float:
        return sum((2 ** g - 1) / math.log2(i + 2) for i, g in enumerate(gs[:depth]))

    ideal = dcg(sorted(grades, reverse=True))
    return dcg([grades[i] for i in order]) / ideal if ideal else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", action="store_true", help="also report the fusion for several k")
    parser.add_argument("--seed", type=int, default=12, help="the shuffle's seed")
    args = parser.parse_args()
    shuffle = random.Random(args.seed)
    ranker = fusion.Fusion(MiniLM())
    ks = sorted({fusion.K, *(SWEEP if args.sweep else ())})
    scores: dict[str, list[float]] = {"bm25": [], "embeddings": [], **{f"equal-weight fusion k={k}": [] for k in ks},
                                      f"fusion in use (k={fusion.K}, BM25 weighted by query)": []}
    queries = [orjson.loads(line) for line in SET.read_text().splitlines() if line.strip()]
    for item in queries:
        passages = list(item["passages"])
        shuffle.shuffle(passages)
        texts, grades = [p[0] for p in passages], [p[1] for p in passages]
        lexical = fusion.rank_of(ranker.lexical(item["query"], texts))
        dense = fusion.rank_of(ranker.dense(item["query"], texts))
        scores["bm25"].append(ndcg(list(np.argsort(lexical)), grades))
        scores["embeddings"].append(ndcg(list(np.argsort(dense)), grades))
        for k in ks:
            scores[f"equal-weight fusion k={k}"].append(ndcg([i for i, _ in fusion.fuse([lexical, dense], k)], grades))
        used = f"fusion in use (k={fusion.K}, BM25 weighted by query)"
        scores[used].append(ndcg([i for i, _ in ranker.rank(item["query"], texts)], grades))
    print(f"{len(queries)} queries, {sum(len(q['passages']) for q in queries)} graded passages, seed {args.seed}")
    print("| ranking | nDCG@10 |\n|---|---|")
    for name, values in scores.items():
        print(f"| {name} | {sum(values) / len(values):.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
