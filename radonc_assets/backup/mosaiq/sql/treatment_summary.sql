-- The treatment summary of one patient (by MRN, Ident.IDA) in a window of Dose_Hst.Tx_DtTm,
-- one row per treated site: first and last delivery, projected dose (cGy) and fractions
-- (distinct Dose_Hst.Fractions_Tx). Names are returned in parts: SQL Server and SQLite
-- concatenate strings differently, so radonc_assets.backup.mosaiq.model.treatment_summary
-- joins them. Parameters: MRN, window start (inclusive), window end (exclusive), both dates.
SELECT
    Ident.IDA AS MRN,
    Patient.Last_Name AS Last_Name,
    Patient.First_Name AS First_Name,
    Patient.MIddle_Name AS Middle_Name,
    Patient.Suffix AS Suffix,
    Site.SIT_SET_ID AS Sit_Set_ID,
    Site.Site_Name AS Site_Name,
    MIN(Dose_Hst.Tx_DtTm) AS First_Tx_DtTm,
    MAX(Dose_Hst.Tx_DtTm) AS Last_Tx_DtTm,
    SUM(Dose_Hst.Dose_Addtl_Projected) AS Dose_cGy,
    COUNT(DISTINCT Dose_Hst.Fractions_Tx) AS Fractions
FROM Dose_Hst
INNER JOIN Ident ON Ident.Pat_Id1 = Dose_Hst.Pat_ID1
LEFT JOIN Patient ON Patient.Pat_ID1 = Dose_Hst.Pat_ID1
LEFT JOIN FLD_HST ON FLD_HST.DHS_ID = Dose_Hst.DHS_ID
INNER JOIN TxField ON TxField.FLD_ID = COALESCE(FLD_HST.FLD_ID, Dose_Hst.FLD_ID)
LEFT JOIN Site ON Site.SIT_SET_ID = TxField.SIT_Set_ID AND Site.Version = 0
WHERE Ident.IDA = ? AND Dose_Hst.Tx_DtTm >= ? AND Dose_Hst.Tx_DtTm < ?
GROUP BY
    Ident.IDA,
    Patient.Last_Name,
    Patient.First_Name,
    Patient.MIddle_Name,
    Patient.Suffix,
    Site.SIT_SET_ID,
    Site.Site_Name
ORDER BY MIN(Dose_Hst.Tx_DtTm), Site.SIT_SET_ID
