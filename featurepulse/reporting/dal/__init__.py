"""AWS access of the report job: SESv2 sending and the DynamoDB send record. Small and tested with moto."""
