"""The field-service platform (FSP): domain records, the `FieldService` port, its HTTP adapter and webhook signing.

The contract is `contracts/fieldservice.openapi.yaml`; docs/fieldservice.md summarizes it."""
