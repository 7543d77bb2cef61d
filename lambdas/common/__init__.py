"""Runtime helpers shared by the Lambdas: settings from the environment, lazy boto3 clients, run ids."""
