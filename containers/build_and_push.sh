#!/usr/bin/env bash
# Build an image under containers/ and push it to the environment's ECR repository, tagged with the git commit.
# Usage: containers/build_and_push.sh <image> <env>     (what `make image ENV=...` runs)
# Needs docker and AWS credentials for the environment's account; the Registry stack must be deployed.
set -euo pipefail
image=${1:?usage: $0 <image> <env>}
env=${2:?usage: $0 <image> <env>}
cd "$(dirname "$0")/.."

command -v docker >/dev/null || { echo "error: docker is required to build images" >&2; exit 1; }
command -v aws >/dev/null || { echo "error: the aws CLI is required to log in to ECR" >&2; exit 1; }
if [ -n "$(git status --porcelain -- "containers/$image")" ]; then
  echo "error: containers/$image has uncommitted changes; the tag must name the commit that built it" >&2
  exit 1
fi

# The env name reaches Python as an argument, never as code; load_config refuses a name with no config file.
read -r account region < <(.venv/bin/python -c "
import sys
from stacks.config import load_config
c = load_config(sys.argv[1]); print(c.account, c.region)" "$env")
registry="$account.dkr.ecr.$region.amazonaws.com"
repository="$registry/esteira-$env/$image"
tag=$(git rev-parse --short=12 HEAD)

aws ecr get-login-password --region "$region" | docker login --username AWS --password-stdin "$registry"
docker build --platform linux/amd64 -t "$repository:$tag" "containers/$image"
docker push "$repository:$tag"
echo "pushed $repository:$tag"
