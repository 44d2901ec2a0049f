"""The cell fabric: configuration, the cell tree, databases, messaging and the cells daemon."""
