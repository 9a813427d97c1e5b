"""A backfill of a site's backup as the UI launches it (GraphQL), for tests and benchmarks."""

# The mutation the UI's "Materialize" of a partition range sends: params has
# partitionNames and assetSelection.
LAUNCH_BACKFILL = """mutation ($params: LaunchBackfillParams!) {
    launchPartitionBackfill(backfillParams: $params) {
        __typename
        ... on LaunchBackfillSuccess { backfillId }
        ... on PythonError { message }
        ... on Error { message }
    } }"""
# A backfill's status by its id.
BACKFILL_STATUS = """query ($id: String!) { partitionBackfillOrError(backfillId: $id) {
    ... on PartitionBackfill { status } } }"""
# The statuses of a backfill still in progress.
IN_PROGRESS = ("REQUESTED", "CANCELING", "FAILING")
